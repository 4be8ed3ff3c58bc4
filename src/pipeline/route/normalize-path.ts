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

export type NormalizedPath = { ok: true; path: string } | { ok: false; problem: string }

const UNRESERVED = /[A-Za-z0-9\-._~]/

export function normalizePath(rawPath: string): NormalizedPath {
  if (!rawPath.startsWith('/')) return { ok: false, problem: 'the path must start with "/"' }
  if (rawPath.includes('\\')) return { ok: false, problem: 'the path contains a backslash' }
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
