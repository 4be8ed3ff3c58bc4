/**
 * `verifyInvoker()`: what a backend calls to trust the X-Invoker header. Runtime-agnostic (jose
 * and WebCrypto only: Node ≥ 20, Deno, Bun, Workers, browsers); no dependency on the gateway.
 *
 * It checks the signature against the gateway's JWKS (fetched once and cached, refetched on an
 * unknown `kid` after a cooldown, per jose's remote set), `typ`, the algorithm, `iss`, `aud`,
 * `exp`/`iat` with a small clock tolerance, and that the token is bound to *this* request:
 * `htm` equals its method and `htu` its URL without query.
 *
 * @example
 * ```ts
 * import { verifyInvoker } from 'invoker-gateway/verifier'
 * const { invoker } = await verifyInvoker(request, {
 *   jwksUrl: 'https://gateway.example.com/.well-known/jwks.json',
 *   issuer: 'https://gateway.example.com',
 *   audience: 'weather',
 * })
 * ```
 * @module
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTPayload } from 'jose'

export interface InvokerPayload {
  id: string
  kind: string
  label?: string
  meta: Record<string, unknown>
}

export interface VerifiedInvoker {
  invoker: InvokerPayload
  auth: { method: string; [fact: string]: unknown }
  claims: JWTPayload & { htm: string; htu: string }
}

export interface VerifyInvokerOptions {
  /** The gateway's JWKS URL. Either this or `keys`. */
  jwksUrl?: string
  /** A key or key-lookup function (e.g. `createLocalJWKSet`), or an HS256 secret as bytes. */
  keys?: JWTVerifyGetKey | CryptoKey | Uint8Array
  issuer: string
  /** The pack id this backend serves. */
  audience: string | string[]
  /** Header name; `x-invoker` unless the gateway is configured otherwise. */
  headerName?: string
  /** Allowed algorithms; EdDSA and ES256 unless given (add HS256 for a shared secret). */
  algorithms?: string[]
  clockToleranceSeconds?: number
  /**
   * The URL the gateway forwarded to, when the backend sees another one (e.g. behind a load
   * balancer that rewrites the host). Defaults to the request's own URL.
   */
  expectedUrl?: string
}

/** Anything with a method, an absolute URL and headers: a Fetch `Request`, or an adapter for Node's. */
export interface RequestLike {
  method: string
  url: string
  headers: { get(name: string): string | null }
}

export type InvokerErrorCode = 'missing' | 'invalid' | 'expired' | 'wrong_request'

export class InvokerVerificationError extends Error {
  override readonly name = 'InvokerVerificationError'
  readonly code: InvokerErrorCode
  constructor(code: InvokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

const remoteSets = new Map<string, JWTVerifyGetKey>()

function keyResolver(options: VerifyInvokerOptions): JWTVerifyGetKey | CryptoKey | Uint8Array {
  if (options.keys) return options.keys
  if (!options.jwksUrl) throw new TypeError('verifyInvoker needs jwksUrl or keys')
  let set = remoteSets.get(options.jwksUrl)
  if (!set) {
    set = createRemoteJWKSet(new URL(options.jwksUrl))
    remoteSets.set(options.jwksUrl, set)
  }
  return set
}

export async function verifyInvoker(request: RequestLike, options: VerifyInvokerOptions): Promise<VerifiedInvoker> {
  const token = request.headers.get(options.headerName ?? 'x-invoker')
  if (!token) throw new InvokerVerificationError('missing', 'the request has no X-Invoker header')
  const key = keyResolver(options)
  let payload: JWTPayload
  try {
    const verified = await jwtVerify(token, key as JWTVerifyGetKey, {
      issuer: options.issuer,
      audience: options.audience,
      typ: 'invoker+jwt',
      algorithms: options.algorithms ?? ['EdDSA', 'ES256'],
      clockTolerance: options.clockToleranceSeconds ?? 5,
      requiredClaims: ['iat', 'exp', 'sub', 'jti', 'htm', 'htu'],
    })
    payload = verified.payload
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new InvokerVerificationError('expired', 'the X-Invoker token has expired', { cause: error })
    throw new InvokerVerificationError('invalid', 'the X-Invoker token is not valid', { cause: error })
  }
  const { htm, htu, invoker, auth } = payload as JWTPayload & Record<string, unknown>
  const url = new URL(options.expectedUrl ?? request.url)
  if (htm !== request.method.toUpperCase() || htu !== url.origin + url.pathname) {
    throw new InvokerVerificationError('wrong_request', 'the X-Invoker token was issued for another request')
  }
  if (!isInvoker(invoker) || invoker.id !== payload.sub || typeof auth !== 'object' || auth === null) {
    throw new InvokerVerificationError('invalid', 'the X-Invoker token has no valid invoker claim')
  }
  return { invoker, auth: auth as VerifiedInvoker['auth'], claims: payload as VerifiedInvoker['claims'] }
}

function isInvoker(value: unknown): value is InvokerPayload {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v['id'] === 'string' && typeof v['kind'] === 'string' && typeof v['meta'] === 'object' && v['meta'] !== null
}
