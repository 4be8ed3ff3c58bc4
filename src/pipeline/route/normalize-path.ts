/**
 * Path normalization before matching (SPEC §4): the path that is matched is the path the
 * backend receives, so no spelling of a path may match one rule and reach another resource.
 *
 * - percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2), other escapes are
 *   upper-cased (§6.2.2.1);
 * - dot segments are removed (§5.2.4), including their encoded forms (`%2e%2e`);
 * - runs of `/` collapse to one, because many servers treat `//` as `/`;
 * - an encoded `/` or `\`, a raw `\`, NUL, a malformed escape, and the `..;` form that some
 *   servlet containers treat as `..` are refused: there is no spelling of them that every
 *   backend reads the same way.
 *
 * @module
 */
import { foldsIntoAscii } from '../../fold.ts'

export type NormalizedPath = { ok: true; path: string } | { ok: false; problem: string }

const UNRESERVED = /[A-Za-z0-9\-._~]/

/**
 * What only the segment walk below can settle: an escape, a run of `/`, or a `.` or `..`
 * segment (with or without parameters). A path without any of them is its own normal form.
 */
const NEEDS_WALK = /%|\/\/|\/\.\.?(?:[/;]|$)/

export function normalizePath(rawPath: string): NormalizedPath {
  if (!rawPath.startsWith('/')) return { ok: false, problem: 'the path must start with "/"' }
  if (rawPath.includes('\\')) return { ok: false, problem: 'the path contains a backslash' }
  // Most request paths: one scan instead of a split, a walk and a join per request.
  if (!NEEDS_WALK.test(rawPath)) return { ok: true, path: rawPath }
  return walkSegments(rawPath)
}

/** The full normalization (exported so a test can hold the shortcut above to it). */
export function walkSegments(rawPath: string): NormalizedPath {
  const segments = rawPath.split('/')
  const out: string[] = []
  const last = segments.length - 1
  let trailingSlash = false
  for (let i = 1; i <= last; i++) {
    const decoded = decodeUnreserved(segments[i] as string)
    if (decoded === null) return { ok: false, problem: 'the path contains a malformed or forbidden escape' }
    if (decoded === '' || decoded === '.') {
      trailingSlash = i === last
      continue
    }
    if (decoded === '..') {
      out.pop()
      trailingSlash = i === last
      continue
    }
    if (decoded.startsWith('..;') || decoded.startsWith('.;')) {
      return { ok: false, problem: 'the path contains a dot segment with parameters' }
    }
    out.push(decoded)
    trailingSlash = false
  }
  const path = '/' + out.join('/') + (trailingSlash && out.length > 0 ? '/' : '')
  return { ok: true, path }
}

function decodeUnreserved(segment: string): string | null {
  if (!segment.includes('%')) return segment
  let out = ''
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i] as string
    if (char !== '%') {
      out += char
      continue
    }
    const hex = segment.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null
    const code = parseInt(hex, 16)
    // %2F and %5C would let the backend see a different segment structure; %00 truncates paths in C.
    if (code === 0x2f || code === 0x5c || code === 0) return null
    const decoded = String.fromCharCode(code)
    out += UNRESERVED.test(decoded) ? decoded : '%' + hex.toUpperCase()
    i += 2
  }
  return out
}

/** Splits a normalized path into segments ('/' → []). */
export function pathSegments(path: string): string[] {
  const trimmed = path.endsWith('/') ? path.slice(1, -1) : path.slice(1)
  return trimmed === '' ? [] : trimmed.split('/')
}

/**
 * Why a normalized path might reach a different resource on the backend than the one the
 * gateway matched, or `null` (issue 12, item 18). Refused on packs whose agents make the path
 * decide access (`strict_paths`), because a backend that reads such a segment its own way can
 * map it onto a path an agent list guards:
 *
 * - a `%` left after one decoding (`%252e`, `%252f`, `%2549`): a backend or framework that
 *   decodes twice sees `.`, `/` or another letter where the gateway saw an escape;
 * - `;` (matrix or path parameters, `;jsessionid=1`): servlet containers and others drop them;
 * - a segment ending in `.` or whitespace: Windows and IIS strip both;
 * - `:$` (`::$DATA`, `:name:$DATA`): an NTFS alternate data stream of a file;
 * - an encoded `?` or `#`: a backend that decodes before splitting ends the path there;
 * - control characters, and escapes that are not valid UTF-8 (an overlong `%C0%AE` is a `.` to
 *   lenient decoders);
 * - a character outside ASCII that a backend's Unicode folding (fold.ts: NFKC, full case
 *   folding, default-ignorables dropped) turns into ASCII or removes (`ı` folds to `i`, `ẞ` to
 *   `ss`, the Kelvin sign to `k`; full-width `Ｉ`, `．` and `／`, the ligature `ﬁ`; a zero-width
 *   space or soft hyphen vanishes): agent patterns ignore ASCII case only, so `/agents/ınternal`
 *   would miss the agent `Internal` that a folding backend routes it to.
 */
export function ambiguity(path: string): string | null {
  for (const segment of path.split('/')) {
    if (segment === '') continue
    let decoded: string
    try {
      // Throws on escapes that are not UTF-8, overlong forms included (ECMA-262 Decode).
      decoded = decodeURIComponent(segment)
    } catch {
      return 'a segment is not valid UTF-8 once decoded'
    }
    if (decoded.includes('%')) return 'the path is percent-encoded twice (%25)'
    if (decoded.includes(';')) return 'a segment carries ";" parameters'
    if (/[\s.]$/.test(decoded)) return 'a segment ends in a dot or a space'
    if (decoded.includes(':$')) return 'a segment names an NTFS stream (":$")'
    if (/[?#]/.test(decoded)) return 'a segment holds an encoded "?" or "#"'
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
    if (/[\x00-\x1f\x7f]/.test(decoded)) return 'a segment holds a control character'
    if (foldsIntoAscii(decoded)) return 'a segment holds a character that Unicode folding turns into ASCII or removes'
  }
  return null
}
