/**
 * The session cookie in a `Cookie` header (RFC 6265 §5.4). Written by hand because the value
 * must stay exactly as the browser sent it (hono's cookie parser decodes it), and because a
 * cookie name sent twice must be seen as such: a sibling subdomain can plant a second cookie of
 * the same name ("cookie tossing"), and picking either one would be a guess.
 *
 * Pairs are separated by `;`, and by `,` too: a client that sends two `Cookie` lines has them
 * joined with `, ` by the runtime (as for any repeated field), and a second session cookie on
 * the second line must still be seen. No cookie value may hold a comma (RFC 6265 §4.1.1).
 *
 * @module
 */
import { MAX_CREDENTIAL_LENGTH } from '../constants.ts'

export type SessionCookie =
  | { kind: 'none' }
  | { kind: 'one'; name: string; value: string }
  | { kind: 'ambiguous' }
  | { kind: 'too_large' }

export function findSessionCookie(header: string | null, names: readonly string[]): SessionCookie {
  if (header === null) return { kind: 'none' }
  let found: { name: string; value: string } | null = null
  for (const pair of header.split(PAIR_SEPARATOR)) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    const name = pair.slice(0, eq).trim()
    if (!names.includes(name)) continue
    const value = pair.slice(eq + 1).trim()
    if (value === '') continue
    if (found !== null) return { kind: 'ambiguous' }
    if (value.length > MAX_CREDENTIAL_LENGTH) return { kind: 'too_large' }
    found = { name, value }
  }
  return found === null ? { kind: 'none' } : { kind: 'one', ...found }
}

const PAIR_SEPARATOR = /[;,]/

/**
 * The `Cookie` header without the named cookies, or `null` when nothing else is left. Also where
 * two `Cookie` lines were joined with `,`; other cookies keep their bytes, commas included.
 */
export function withoutCookie(header: string, names: readonly string[]): string | null {
  const isNamed = (pair: string): boolean => {
    const eq = pair.indexOf('=')
    return eq >= 0 && names.includes(pair.slice(0, eq).trim())
  }
  const kept: string[] = []
  for (const pair of header.split(';')) {
    const rest = pair.includes(',')
      ? pair
          .split(',')
          .filter((piece) => !isNamed(piece))
          .join(',')
          .trim()
      : pair.trim()
    if (rest !== '' && !isNamed(rest)) kept.push(rest)
  }
  return kept.length === 0 ? null : kept.join('; ')
}

/**
 * The `Set-Cookie` fields of an answer, without those that set one of `names`: a backend must
 * not plant the gateway's session cookie (another user's session, or a second copy that locks
 * the user out). Changed only when such a field is there.
 */
export function dropSetCookies(headers: Headers, names: readonly string[]): void {
  if (names.length === 0 || !headers.has('set-cookie')) return
  const all = headers.getSetCookie()
  const kept = all.filter((field) => !names.includes(field.slice(0, Math.max(0, field.indexOf('='))).trim()))
  if (kept.length === all.length) return
  headers.delete('set-cookie')
  for (const field of kept) headers.append('set-cookie', field)
}
