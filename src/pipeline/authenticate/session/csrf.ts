/**
 * CSRF protection for cookie-authenticated calls (OWASP: verify the origin with standard
 * headers). A browser attaches the session cookie to a cross-site POST on its own; only the
 * `Origin` it also attaches tells the gateway who asked. Unsafe methods must therefore come from
 * the request's own origin or an origin the pack trusts; without `Origin`, only a
 * `Sec-Fetch-Site: same-origin` request passes. A client that sends neither (curl with a stolen
 * cookie, an old browser) is refused: for it, there are API keys and bearer tokens.
 *
 * A WebSocket handshake is a GET, but it opens a channel both ways, and CORS does not apply to
 * it: any page can open one with the user's cookie (cross-site WebSocket hijacking). So a request
 * asking for any upgrade is checked as an unsafe method is (browsers only send `Upgrade` for a
 * WebSocket; scripts cannot set it).
 *
 * @module
 */
import type { CompiledPack } from '../../../policy/types.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export function originTrusted(method: string, headers: Headers, requestOrigin: string, pack: CompiledPack): boolean {
  if (SAFE_METHODS.has(method) && !headers.has('upgrade')) return true
  const origin = headers.get('origin')
  if (origin !== null) return origin === requestOrigin || (pack.cors?.origins.includes(origin) ?? false)
  return headers.get('sec-fetch-site') === 'same-origin'
}
