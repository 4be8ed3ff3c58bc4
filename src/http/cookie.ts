/**
 * The session cookie in a `Cookie` header (RFC 6265 §5.4). Written by hand because the value
 * must stay exactly as the browser sent it (hono's cookie parser decodes it), and because a
 * cookie name sent twice must be seen as such: a sibling subdomain can plant a second cookie of
 * the same name ("cookie tossing"), and picking either one would be a guess.
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
  for (const pair of header.split(';')) {
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

/** The `Cookie` header without the named cookie, or `null` when nothing else is left. */
export function withoutCookie(header: string, name: string): string | null {
  const kept = header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '' && pair.slice(0, pair.indexOf('=')).trim() !== name)
  return kept.length === 0 ? null : kept.join('; ')
}
