/**
 * Agent path patterns: literal segments, `*` for exactly one segment, and a final `**` for any
 * rest (including nothing). A deliberately small language: overlap between two patterns is
 * decidable, so the build can refuse agents that could both match one request instead of
 * silently picking one.
 *
 * Agent matching ignores ASCII case. Being over-inclusive only ever narrows access (the agent's
 * lists apply on top of the pack's), and it closes the bypass of a backend that serves paths
 * case-insensitively.
 *
 * @module
 */

export const ANY_SEGMENT = '*'
export const ANY_REST = '**'

/** Parses a pattern; returns an error message or the lower-cased segments. */
export function parsePathPattern(pattern: string): { ok: true; segments: string[] } | { ok: false; problem: string } {
  if (!pattern.startsWith('/')) return { ok: false, problem: 'an agent path starts with "/"' }
  const segments = pattern
    .slice(1)
    .split('/')
    .filter((s) => s !== '')
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string
    if (segment === ANY_REST && i !== segments.length - 1) {
      return { ok: false, problem: '"**" may only end an agent path' }
    }
    if (segment !== ANY_SEGMENT && segment !== ANY_REST && /[*%\\]/.test(segment)) {
      return {
        ok: false,
        problem: `segment "${segment}": use "*" for a whole segment; partial wildcards and escapes are not supported`,
      }
    }
    if (segment === '.' || segment === '..') return { ok: false, problem: 'an agent path has no dot segments' }
  }
  // As request segments are compared (route/match.ts): NFKC, then lower case.
  return { ok: true, segments: segments.map((s) => s.normalize('NFKC').toLowerCase()) }
}

/** Whether lower-cased request segments match a pattern. */
export function matchesPattern(pattern: readonly string[], segments: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] as string
    if (expected === ANY_REST) return true
    const actual = segments[i]
    if (actual === undefined) return false
    if (expected !== ANY_SEGMENT && expected !== actual) return false
  }
  return segments.length === pattern.length
}

/** Whether some path matches both patterns. */
export function patternsOverlap(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i]
    const y = b[i]
    if (x === ANY_REST || y === ANY_REST) return true
    if (x === undefined || y === undefined) return x === y
    if (x !== y && x !== ANY_SEGMENT && y !== ANY_SEGMENT) return false
  }
}
