/**
 * Finds every credential a request presents, once, before any is verified. The gateway accepts
 * exactly one: two credentials that might name different callers are refused rather than
 * resolved by precedence (README, "one credential per request").
 *
 * @module
 */
import { MAX_CREDENTIAL_LENGTH } from '../../constants.ts'
import { looksLikeApiKey } from '../../keys/api-key-format.ts'
import { findSessionCookie } from '../../http/cookie.ts'

export const API_KEY_HEADER = 'x-api-key'

export type Credential =
  | { method: 'api_key'; key: string; header: string }
  | { method: 'bearer'; token: string; header: string }
  | { method: 'unknown_scheme'; header: string }
  | { method: 'session'; cookie: { name: string; value: string } }
  | { method: 'envelope' }

export type Presented =
  | { kind: 'none' }
  | { kind: 'one'; credential: Credential }
  | { kind: 'ambiguous' }
  | { kind: 'too_large' }

/**
 * @param sessionCookies the cookie names of a session, when the pack accepts sessions; a pack
 *   that does not leaves cookies alone (they are the backend's business).
 * @param envelope whether the pack accepts signed requests.
 */
export function findCredentials(
  headers: Headers,
  sessionCookies: readonly string[] | null,
  envelope: boolean,
): Presented {
  const found: Credential[] = []
  const apiKey = headers.get(API_KEY_HEADER)
  const authorization = headers.get('authorization')
  if ((apiKey?.length ?? 0) > MAX_CREDENTIAL_LENGTH || (authorization?.length ?? 0) > MAX_CREDENTIAL_LENGTH) {
    return { kind: 'too_large' }
  }
  if (apiKey !== null) found.push({ method: 'api_key', key: apiKey.trim(), header: API_KEY_HEADER })
  if (authorization !== null) found.push(parseAuthorization(authorization))
  // Like the session cookie, Signature fields count only where the pack verifies them; elsewhere
  // they are the backend's business (a crawler may sign every request it sends).
  if (envelope) {
    const input = headers.get('signature-input')
    const signature = headers.get('signature')
    if ((input?.length ?? 0) > MAX_CREDENTIAL_LENGTH || (signature?.length ?? 0) > MAX_CREDENTIAL_LENGTH)
      return { kind: 'too_large' }
    if (input !== null || signature !== null) found.push({ method: 'envelope' })
  }
  if (sessionCookies !== null) {
    const cookie = findSessionCookie(headers.get('cookie'), sessionCookies)
    if (cookie.kind === 'too_large') return { kind: 'too_large' }
    if (cookie.kind === 'ambiguous') return { kind: 'ambiguous' }
    if (cookie.kind === 'one') found.push({ method: 'session', cookie: { name: cookie.name, value: cookie.value } })
  }
  if (found.length === 0) return { kind: 'none' }
  if (found.length > 1) return { kind: 'ambiguous' }
  return { kind: 'one', credential: found[0] as Credential }
}

/** RFC 9110 §11.6.2 credentials: `<scheme> <token>`, scheme compared without regard to case. */
function parseAuthorization(value: string): Credential {
  const header = 'authorization'
  const match = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S+) *$/.exec(value)
  if (!match) return { method: 'unknown_scheme', header }
  const scheme = (match[1] as string).toLowerCase()
  const token = match[2] as string
  if (scheme === 'apikey') return { method: 'api_key', key: token, header }
  if (scheme === 'bearer') {
    return looksLikeApiKey(token) ? { method: 'api_key', key: token, header } : { method: 'bearer', token, header }
  }
  return { method: 'unknown_scheme', header }
}
