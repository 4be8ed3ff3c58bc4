/**
 * The X-Invoker claims and the checks on them, pure (no I/O, no clock: `now` is passed in), in
 * the order both verifiers apply them: shape, issuer, audience, lifetime, request binding.
 *
 * @module
 */
import type { ReasonCode } from './reasons.ts'

export interface Invoker {
  /** Stable caller id, opaque: `apikey:ci-bot`, `anon:…`, an IdP subject, `<signer>:<user>`. */
  id: string
  kind: string
  label?: string
  meta: Record<string, unknown>
}

/** How the gateway established the invoker (`auth` claim). */
export interface AuthFacts {
  method: string
  /** The API key's policy name (never the key) when `method` is `api_key`. */
  api_key?: string
  /** The token issuer's policy name when `method` is `bearer`. */
  issuer?: string
  /** The request signer's policy name when `method` is `envelope`. */
  signer?: string
  /** The user a delegating signer acts for, bare (`alice`); the invoker id is `<signer namespace>:alice`. */
  on_behalf_of?: string
  /**
   * Only for signed requests with a body: `verified` when the gateway checked the body against
   * its `Content-Digest` before forwarding it, `streamed` when the pack streams signed bodies (the
   * backend receives the body before the check; the gateway aborts the request on a mismatch).
   */
  body?: 'verified' | 'streamed'
  [fact: string]: unknown
}

/** What an MCP request calls (`mcp` claim), when the gateway recognised one. */
export interface McpCall {
  method: string
  tool?: string
}

export interface InvokerClaims {
  iss: string
  aud: string | string[]
  sub: string
  iat: number
  exp: number
  jti: string
  invoker: Invoker
  auth: AuthFacts
  htm: string
  htu: string
  mcp?: McpCall
  [claim: string]: unknown
}

export interface VerifiedInvoker {
  invoker: Invoker
  auth: AuthFacts
  /** False only when the body was streamed to the backend before the gateway checked it. */
  bodyVerified: boolean
  mcp?: McpCall
  /** The gateway's request id (`jti`; also the `X-Request-Id` header). */
  requestId: string
  claims: InvokerClaims
}

export interface ClaimExpectations {
  issuer: string
  audiences: readonly string[]
  clockToleranceSeconds: number
  method: string
  /** The received URL in `htu` form (after any rewrite); `null` when it could not be read. */
  htu: string | null
}

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const isString = (v: unknown): v is string => typeof v === 'string'
const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string'
// NumericDate (RFC 7519 §2): a JSON number; the gateway writes integers.
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** Every claim the gateway always writes, with its type; `null` when one is missing or mistyped. */
export function claimsShape(payload: unknown): InvokerClaims | null {
  if (!isObject(payload)) return null
  const { iss, aud, sub, iat, exp, jti, invoker, auth, htm, htu, mcp } = payload
  if (!isString(iss) || !isString(sub) || !isString(jti) || !isString(htm) || !isString(htu)) return null
  if (!(isString(aud) || (Array.isArray(aud) && aud.every(isString)))) return null
  if (!isTime(iat) || !isTime(exp)) return null
  if (!isObject(invoker) || !isString(invoker['id']) || !isString(invoker['kind']) || !isObject(invoker['meta']))
    return null
  if (!isOptionalString(invoker['label'])) return null
  // The subject is the invoker: a token whose two ids differ was not written by the gateway.
  if (invoker['id'] !== sub) return null
  if (!isObject(auth) || !isString(auth['method'])) return null
  // Unknown body states are refused rather than guessed: only these two are defined.
  if (auth['body'] !== undefined && auth['body'] !== 'verified' && auth['body'] !== 'streamed') return null
  if (mcp !== undefined && (!isObject(mcp) || !isString(mcp['method']) || !isOptionalString(mcp['tool']))) return null
  return payload as InvokerClaims
}

/** The first failed check on well-shaped claims, or `null` when they hold for this request. */
export function claimsProblem(claims: InvokerClaims, expected: ClaimExpectations, now: number): ReasonCode | null {
  if (claims.iss !== expected.issuer) return 'issuer'
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (!audiences.some((a) => expected.audiences.includes(a))) return 'audience'
  const tolerance = expected.clockToleranceSeconds
  // RFC 7519 §4.1.4: not accepted on or after exp; iat ahead of this clock means a clock we do not trust.
  if (claims.exp <= now - tolerance || claims.iat > now + tolerance) return 'expired'
  // Methods are case-sensitive (RFC 9110 §9.1): `post` is not `POST`.
  if (claims.htm !== expected.method || expected.htu === null || claims.htu !== expected.htu) return 'wrong_request'
  return null
}

export function verifiedInvoker(claims: InvokerClaims): VerifiedInvoker {
  const result: VerifiedInvoker = {
    invoker: claims.invoker,
    auth: claims.auth,
    bodyVerified: claims.auth.body !== 'streamed',
    requestId: claims.jti,
    claims,
  }
  if (claims.mcp !== undefined) result.mcp = claims.mcp
  return result
}
