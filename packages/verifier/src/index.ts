/**
 * @invoker-gateway/verifier: verify the X-Invoker header invoker-gateway signs.
 *
 * @module
 */
export {
  createInvokerVerifier,
  verifyInvoker,
  type InvokerAlgorithm,
  type InvokerVerifier,
  type VerifierOptions,
} from './verify.ts'
export { InvokerVerificationError, REASON_CODES, type ReasonCode } from './reasons.ts'
export { MemoryReplayCache, type MemoryReplayCacheOptions, type ReplayCache } from './replay.ts'
export type { AuthFacts, Invoker, InvokerClaims, McpCall, VerifiedInvoker } from './claims.ts'
export type { HeadersLike, RequestLike, UrlRewrite } from './request.ts'
export type { JwksCacheOptions } from './keys.ts'
