/**
 * Why a token was refused: one stable code per failure, the same in the Python package and in
 * the gateway CLI's `decode`. Match on `reason`, never on the message; no message carries the
 * token or any part of it.
 *
 * @module
 */

export const REASON_CODES = [
  'missing',
  'malformed',
  'typ',
  'signature',
  'key_unknown',
  'keys_unavailable',
  'issuer',
  'audience',
  'expired',
  'wrong_request',
  'replayed',
] as const

export type ReasonCode = (typeof REASON_CODES)[number]

const MESSAGES: Record<ReasonCode, string> = {
  missing: 'the request has no X-Invoker header',
  malformed: 'the X-Invoker header is not a well-formed invoker token',
  typ: 'the token is not an invoker token (typ)',
  signature: 'the token signature is not valid, or its algorithm is not accepted',
  key_unknown: "the token's key is not among the gateway's keys",
  keys_unavailable: "the gateway's keys could not be fetched",
  issuer: 'the token was issued by another gateway',
  audience: 'the token was issued for another pack',
  expired: 'the token is outside its lifetime (expired, or issued in the future)',
  wrong_request: 'the token was issued for another request (method or URL)',
  replayed: 'the token was already used',
}

export class InvokerVerificationError extends Error {
  override readonly name = 'InvokerVerificationError'
  readonly reason: ReasonCode
  /**
   * The HTTP status a backend should answer with: 503 when the gateway's keys could not be
   * fetched (the token may be fine; retrying can work), 401 for everything else.
   */
  readonly status: 401 | 503
  constructor(reason: ReasonCode, options?: { cause?: unknown }) {
    super(MESSAGES[reason], options)
    this.reason = reason
    this.status = reason === 'keys_unavailable' ? 503 : 401
  }
}
