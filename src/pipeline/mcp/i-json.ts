/**
 * Duplicate member names (I-JSON, RFC 7493 §2.3). `JSON.parse` keeps the last of two equal
 * names silently, other parsers keep the first or refuse: a body like
 * `{"params":{"name":"allowed","name":"forbidden"}}` could be judged as one tool and run as the
 * other. No library reports duplicates without parsing the whole body a second time into its own
 * tree, so this is one pass over the text, by hand: it only tracks where member names are and
 * compares them per object.
 *
 * @module
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Whether some object in `text` names a member twice. `text` must already be valid JSON (the
 * caller parsed it): the scan only needs to tell names from values, not to validate.
 */
export function hasDuplicateMember(text: string): boolean {
  // One entry per open container: the names seen so far in an object, `null` for an array.
  const open: (Set<string> | null)[] = []
  let expectName = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (char === QUOTE) {
      const end = closingQuote(text, i)
      if (expectName) {
        const raw = text.slice(i + 1, end)
        // Escapes spell one name many ways ("na\u006de" is "name"): compare decoded names.
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw
        const names = open[open.length - 1] as Set<string>
        if (names.has(name)) return true
        names.add(name)
        expectName = false
      }
      i = end
    } else if (char === 0x7b /* { */) {
      open.push(new Set())
      expectName = true
    } else if (char === 0x5b /* [ */) {
      open.push(null)
      expectName = false
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      open.pop()
      expectName = false
    } else if (char === 0x2c /* , */) {
      expectName = open[open.length - 1] != null
    }
  }
  return false
}

/** The index of the quote that closes the string opening at `start` (one not escaped by a backslash). */
function closingQuote(text: string, start: number): number {
  let at = start + 1
  for (;;) {
    const quote = text.indexOf('"', at)
    let backslashes = 0
    for (let j = quote - 1; text.charCodeAt(j) === BACKSLASH; j--) backslashes++
    if (backslashes % 2 === 0) return quote
    at = quote + 1
  }
}
