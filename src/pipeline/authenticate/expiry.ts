/**
 * When a credential stops being valid, as far as it says so itself: known when it is verified,
 * needing no outside source later. An open stream judges this before it asks the credential's
 * source again (threat model item 10, README "Long streams"): a token past its `exp` ends the
 * stream within one recheck even while its JWKS, introspection or session endpoint or the store
 * is down, which would otherwise leave the recheck "unavailable" and the stream open.
 *
 * @module
 */
import type { CompiledIssuer } from '../../policy/types.ts'
import type { Claims } from './claims.ts'
import { isJsonObject } from './fetch-json.ts'

/**
 * The first instant (epoch ms) at which jose refuses a JWT whose claims are these, with the
 * issuer's clock tolerance: `exp` (RFC 7519 §4.1.4; jose: `exp <= now - tolerance`, now in whole
 * seconds) and, with a `max_token_age`, `iat` + that age (jose: `now - iat - tolerance > max`).
 * `null` without an `exp`.
 */
export function jwtExpiresAt(claims: Claims, issuer: CompiledIssuer): number | null {
  const { exp, iat } = claims
  if (typeof exp !== 'number') return null
  const tolerance = issuer.clockToleranceSeconds
  let at = (exp + tolerance) * 1000
  if (issuer.maxTokenAgeSeconds !== null && typeof iat === 'number')
    at = Math.min(at, (iat + issuer.maxTokenAgeSeconds + tolerance + 1) * 1000)
  return at
}

/** The same for an introspection answer's `exp` (judged as in introspect.ts: `now - tolerance >= exp`). */
export function introspectedExpiresAt(claims: Claims, issuer: CompiledIssuer): number | null {
  const { exp } = claims
  return typeof exp === 'number' ? (exp + issuer.clockToleranceSeconds) * 1000 : null
}

/**
 * A session endpoint's own word on when the session ends: Better Auth's `get-session` answers
 * `session.expiresAt` (an ISO 8601 date). Another app's answer without it (or with a number,
 * which could be seconds or milliseconds): not known.
 */
export function sessionExpiresAt(answer: unknown): number | null {
  const session = isJsonObject(answer) ? answer['session'] : undefined
  if (!isJsonObject(session)) return null
  const at = session['expiresAt']
  const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN
  return Number.isFinite(ms) ? ms : null
}
