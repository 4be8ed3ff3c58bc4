/**
 * Rule globs: `*` matches any run of characters (including none); everything else is literal;
 * a glob is anchored at both ends. No regular expression is ever built from policy text: the
 * values a glob is held against come from callers (emails, labels, `meta` from tokens and
 * session answers), and a backtracking regex such as `^.*@.*\..*\.example\.com$` takes minutes
 * on a few thousand characters (issue 12, item 2).
 *
 * The build splits a glob on `*` into its literal segments ({@link compileGlob}); the matcher
 * ({@link globMatches}) then walks the text once, without allocating:
 *
 * - the first segment must start the text and the last must end it (both anchored);
 * - every segment in between is searched left to right, each at its leftmost occurrence after
 *   the previous one, and must end before the last segment begins.
 *
 * Taking the leftmost occurrence is never wrong for a glob whose only wildcard is `*`: if some
 * placement of the segments matches, moving any middle segment to an earlier occurrence leaves
 * at least as much text for the ones after it (the classic argument for `*`-only globs), so no
 * backtracking is needed. Cost: each text position is a candidate start for at most one
 * segment's search (a search starts where the previous segment ended), so even a naive
 * substring search compares at most n·m characters, with n the text's length and m the longest
 * literal segment (bounded by the policy, and small). The text itself is bounded by the claim
 * limits in `constants.ts`.
 *
 * @module
 */

/**
 * A compiled glob: its literal segments, split on `*`. The first and last are anchored (either
 * may be empty); empty middle segments (from `**`) are dropped because they match anywhere.
 * Always at least two segments: a value without `*` is compared exactly, not as a glob.
 */
export type GlobSegments = readonly string[]

/** Splits a glob on `*` at build time; `null` when it has no `*` (compare exactly). */
export function compileGlob(glob: string): string[] | null {
  if (!glob.includes('*')) return null
  const parts = glob.split('*')
  const first = parts[0] as string
  const last = parts[parts.length - 1] as string
  return [first, ...parts.slice(1, -1).filter((part) => part !== ''), last]
}

/** Whether `text` matches the compiled glob. Linear in practice, O(n·m) at worst (see above). */
export function globMatches(segments: GlobSegments, text: string): boolean {
  const lastIndex = segments.length - 1
  const head = segments[0] as string
  const tail = segments[lastIndex] as string
  // Head and tail may not share characters: the `*` between them matches zero or more.
  if (text.length < head.length + tail.length) return false
  if (!text.startsWith(head) || !text.endsWith(tail)) return false
  const end = text.length - tail.length
  let position = head.length
  for (let i = 1; i < lastIndex; i++) {
    const segment = segments[i] as string
    const found = text.indexOf(segment, position)
    // The leftmost occurrence ends first; if it runs into the tail, every later one does too.
    if (found < 0 || found + segment.length > end) return false
    position = found + segment.length
  }
  return true
}
