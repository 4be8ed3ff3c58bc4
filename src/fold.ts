/**
 * What a lenient backend may make of a text: Unicode compatibility normalization (NFKC), full
 * case folding, and default-ignorable characters (soft hyphen, zero-width space, variation
 * selectors…) dropped, as ICU's and UTS #46's NFKC_Casefold do, and as databases with
 * case-insensitive collations compare. The gateway compares ids and matches paths exactly; where
 * a backend folds, two spellings the gateway told apart could meet there. This is what the
 * checks that keep them apart compare.
 *
 * Full case folding is approximated by lower, upper, lower (`ẞ` → `ß` → `SS` → `ss`, `ı` →
 * `I` → `i`, the Kelvin sign → `k`): JavaScript has no `casefold`. Look-alikes from other
 * scripts (Cyrillic `а` for Latin `a`) are not folded: no normalization form makes them equal.
 *
 * @module
 */

const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu
const NON_ASCII = /[\u0080-\uffff]/
const PRINTABLE_ASCII = /[\x20-\x7e]/

/** The text as a folding backend may compare it. */
export function foldText(text: string): string {
  if (!NON_ASCII.test(text)) return text.toLowerCase()
  return text
    .normalize('NFKC')
    .toLowerCase()
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC')
    .replace(DEFAULT_IGNORABLE, '')
}

/**
 * Whitespace and control characters at either end: what `trim()` leaves, Python's `strip()` and
 * Go's `TrimSpace` take (NEL U+0085, the separators U+001C–U+001F), taken too.
 */
const EDGES = /^[\p{White_Space}\p{Cc}\p{Cf}]+|[\p{White_Space}\p{Cc}\p{Cf}]+$/gu

/** An id as a folding backend may compare it: folded, and without whitespace or controls around it. */
export function foldId(id: string): string {
  return foldText(id).replace(EDGES, '')
}

/**
 * Whether a text holds a character outside ASCII that folding turns into printable ASCII or
 * removes: `ı`, `ſ`, `ẞ`, the Kelvin sign, full-width forms, ligatures, a zero-width space.
 */
export function foldsIntoAscii(text: string): boolean {
  if (!NON_ASCII.test(text)) return false
  for (const char of text) {
    if (char.charCodeAt(0) < 0x80) continue
    const folded = foldText(char)
    if (folded === '' || PRINTABLE_ASCII.test(folded)) return true
  }
  return false
}
