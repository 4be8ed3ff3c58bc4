/**
 * The gateway's one store for short-lived shared state (SPEC §5): rate-limit counters, the nonce
 * cache of signed requests, and API keys minted at runtime. Two implementations answer it the
 * same way: Upstash Redis (`upstash.ts`) when its credentials are set, else Durable Objects
 * (`durable-object.ts`). Callers bound every call with {@link withTimeout}.
 *
 * @module
 */
import type { Unavailable } from '../outcome.ts'
import type { ApiKeyRecord, RateLimitAlgorithm } from '../policy/types.ts'
import type { SlotAnswer } from './slots.ts'

/** Units to give back (> 0) or charge (< 0) to the lease period `epoch` of a counter (see algorithms.ts). */
export interface Adjustment {
  epoch: number
  units: number
}

/** One lease of rate-limit capacity (see algorithms.ts for what each field means). */
export interface LeaseRequest {
  /** Names the counter: pack, rule and hashed key (never the raw id or address). */
  counter: string
  algorithm: RateLimitAlgorithm
  limit: number
  windowMs: number
  /** Units needed now (requests waiting); at least 1. */
  want: number
  /** Headroom wanted beyond `want`. */
  extra: number
  /** Unspent units to give back (> 0) or units admitted without the store to charge (< 0). */
  adjust: Adjustment | null
}

export interface LeaseGrant {
  /** Units granted: `want` if available (else all that were), plus any headroom. */
  granted: number
  /** Capacity the store has left after this grant. */
  remaining: number
  /** Unix ms when the counter's window resets (the RateLimit `t` parameter). */
  resetAt: number
  /** When `remaining` is 0: Unix ms when the store can first grant again (Retry-After). */
  retryAt: number
  /** The lease period the units belong to (a window index, or a token bucket's last refill). */
  epoch: number
  /** Unix ms after which the units may no longer be spent. */
  epochEnds: number
}

/** A rule's counter after admitting one request (from a lease or the degraded limiter): the RateLimit numbers. */
export interface RateLimitAdmission {
  limit: number
  remaining: number
  /** Unix milliseconds when the counter's window resets. */
  resetAt: number
}

/** A rule's counter refusing one request: nothing remains, and when a request may succeed again. */
export interface RateLimitRefusal extends RateLimitAdmission {
  remaining: 0
  /** Unix milliseconds when a request may succeed again (Retry-After). */
  retryAt: number
}

/** One call on a concurrency counter's slots (see slots.ts for the order of the parts). */
export interface SlotRequest {
  /** Names the counter: pack, rule and hashed key (never the raw id or address). */
  counter: string
  limit: number
  leaseMs: number
  acquire: string | null
  renew: readonly string[]
  release: readonly string[]
}

/** A key minted at runtime: the same record as a policy key, plus when it was made. */
export interface MintedKeyRecord extends ApiKeyRecord {
  createdAt: number
}

export interface GatewayStore {
  readonly kind: 'upstash' | 'durable_object'
  /** Takes a lease of rate-limit capacity; one atomic store round trip. */
  lease(request: LeaseRequest): Promise<LeaseGrant>
  /** Takes, renews and gives back concurrency slots of one counter; one atomic store round trip. */
  slots(request: SlotRequest): Promise<SlotAnswer>
  /** Sets `key` if it is absent, for `ttlMs`; true when this call set it (a first sighting). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>
  mintedKey(keyId: string): Promise<MintedKeyRecord | null>
  /** Stores a minted key; false when the key id is already taken. */
  putMintedKey(record: MintedKeyRecord): Promise<boolean>
  /** Marks a minted key revoked; false when no such key exists. */
  revokeMintedKey(keyId: string): Promise<boolean>
  /** Every minted key, revoked ones included (for `keys list`; an admin call, never per request). */
  listMintedKeys(): Promise<MintedKeyRecord[]>
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

/** Any failure of a store call, as the one error type callers decide on. */
export function unavailable(error: unknown): StoreUnavailableError {
  return error instanceof StoreUnavailableError
    ? error
    : new StoreUnavailableError(error instanceof Error ? error.message : String(error), false)
}

/** What a store call that outlasted `timeoutMs` says (names the store's bound, never a key). */
const noAnswerWithin = (timeoutMs: number): string => `no answer within ${timeoutMs} ms`

/** A store call's failure as an `Unavailable`, for callers that decide on it (the limit tables) rather than throw. */
export function storeUnavailable(error: unknown): Unavailable {
  const failure = unavailable(error)
  return { kind: 'unavailable', problem: failure.message, timedOut: failure.timedOut }
}

/** A store call that outlasted `timeoutMs`, as an `Unavailable` (the same problem text as {@link withTimeout}'s error). */
export function storeTimedOut(timeoutMs: number): Unavailable {
  return { kind: 'unavailable', problem: noAnswerWithin(timeoutMs), timedOut: true }
}

/**
 * Starts a store call and never throws: a call that throws synchronously (a client that cannot
 * be built, a stub that refuses its arguments) becomes a rejected promise, so every caller ends
 * in its failure decision instead of a 500 (issue 12 item 11).
 */
export function attempt<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call().catch((error: unknown) => Promise.reject(unavailable(error)))
  } catch (error) {
    return Promise.reject(unavailable(error))
  }
}

/**
 * Bounds a store call: a slow store must not hold the request. The timer starts with the call
 * and ends with it, so it measures the store, not time spent waiting in the isolate. The call
 * itself is not cancelled (neither Upstash's client nor a Durable Object stub can abort one in
 * flight); a late answer is the caller's to use or drop.
 */
export function withTimeout<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  const started = attempt(call)
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(noAnswerWithin(timeoutMs), true)), timeoutMs)
  })
  return Promise.race([started, deadline]).finally(() => {
    if (timer !== undefined) clearTimeout(timer)
  })
}
