/**
 * The gateway's one store for short-lived shared state (SPEC §5): rate-limit counters, the nonce
 * cache of signed requests, and API keys minted at runtime. Two implementations answer it the
 * same way: Upstash Redis (`upstash.ts`) when its credentials are set, else Durable Objects
 * (`durable-object.ts`). Callers bound every call with {@link withTimeout}.
 *
 * @module
 */
import type { ApiKeyRecord, RateLimitAlgorithm } from '../policy/types.ts'

export interface RateLimitRequest {
  /** Names the counter: pack, rule and hashed key (see pipeline/rate-limit/keys.ts). */
  counter: string
  algorithm: RateLimitAlgorithm
  limit: number
  windowMs: number
}

export interface RateLimitOutcome {
  allowed: boolean
  limit: number
  remaining: number
  /** Unix milliseconds when the counter next frees capacity. */
  resetAt: number
}

/** A key minted at runtime: the same record as a policy key, plus when it was made. */
export interface MintedKeyRecord extends ApiKeyRecord {
  createdAt: number
}

export interface GatewayStore {
  readonly kind: 'upstash' | 'durable_object'
  /** Counts one request against the counter; one store round trip. */
  limit(request: RateLimitRequest): Promise<RateLimitOutcome>
  /** Sets `key` if it is absent, for `ttlMs`; true when this call set it (a first sighting). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>
  mintedKey(keyId: string): Promise<MintedKeyRecord | null>
  /** Stores a minted key; false when the key id is already taken. */
  putMintedKey(record: MintedKeyRecord): Promise<boolean>
  /** Marks a minted key revoked; false when no such key exists. */
  revokeMintedKey(keyId: string): Promise<boolean>
}

/** A store call failed or took longer than the policy's `store_timeout`. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'
  readonly timedOut: boolean
  constructor(message: string, timedOut: boolean) {
    super(message)
    this.timedOut = timedOut
  }
}

/**
 * Bounds a store call: a slow store must not hold the request. The call itself is not
 * cancelled (neither Upstash's client nor a Durable Object stub can abort one in flight).
 */
export function withTimeout<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`no answer within ${timeoutMs} ms`, true)), timeoutMs)
  })
  const attempt = call().catch((error: unknown) => {
    if (error instanceof StoreUnavailableError) throw error
    throw new StoreUnavailableError(error instanceof Error ? error.message : String(error), false)
  })
  return Promise.race([attempt, deadline]).finally(() => {
    if (timer !== undefined) clearTimeout(timer)
  })
}
