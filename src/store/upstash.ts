/**
 * The production store: Upstash Redis over its REST API, with `@upstash/ratelimit`'s scripts
 * for the counters. One Redis round trip per rule (concurrent calls from one isolate are
 * auto-pipelined into one HTTP request); keys already refused are answered from the library's
 * in-isolate ephemeral cache until their window resets, without a round trip.
 *
 * The client is built with `retry: false`: its default retries a failed fetch for ~4 s, far
 * past any sensible `store_timeout`, and the rule's `on_error` is the policy's answer to a failure.
 * The library's own timeout is off: callers bound every store call with `withTimeout`, the same
 * for both stores, so a second timer per rule would only repeat it.
 *
 * @module
 */
import { Ratelimit } from '@upstash/ratelimit'
import { Redis } from '@upstash/redis/cloudflare'
import type { RateLimitAlgorithm } from '../policy/types.ts'
import type { GatewayStore, MintedKeyRecord, RateLimitOutcome, RateLimitRequest } from './types.ts'

const PREFIX = 'igw'

export class UpstashStore implements GatewayStore {
  readonly kind = 'upstash'
  readonly #redis: Redis
  readonly #limiters = new Map<string, Ratelimit>()

  constructor(url: string, token: string) {
    this.#redis = new Redis({ url, token, retry: false, enableTelemetry: false })
  }

  async limit(request: RateLimitRequest): Promise<RateLimitOutcome> {
    const result = await this.#limiter(request.algorithm, request.limit, request.windowMs).limit(request.counter)
    return { allowed: result.success, limit: request.limit, remaining: result.remaining, resetAt: result.reset }
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(`${PREFIX}:nonce:${key}`, 1, { nx: true, px: ttlMs })) === 'OK'
  }

  async mintedKey(keyId: string): Promise<MintedKeyRecord | null> {
    const [record, revoked] = await this.#redis.mget<[MintedKeyRecord | null, number | null]>(keyName(keyId), revokedName(keyId))
    if (record === null) return null
    return revoked === null ? record : { ...record, revoked: true }
  }

  async putMintedKey(record: MintedKeyRecord): Promise<boolean> {
    return (await this.#redis.set(keyName(record.keyId), JSON.stringify(record), { nx: true })) === 'OK'
  }

  async revokeMintedKey(keyId: string): Promise<boolean> {
    // Revocation is its own key, so a revoke can never race a put into a half-written record.
    if ((await this.#redis.exists(keyName(keyId))) === 0) return false
    await this.#redis.set(revokedName(keyId), 1)
    return true
  }

  #limiter(algorithm: RateLimitAlgorithm, limit: number, windowMs: number): Ratelimit {
    const id = `${algorithm}:${limit}:${windowMs}`
    let limiter = this.#limiters.get(id)
    if (!limiter) {
      const window = `${windowMs} ms` as const
      limiter = new Ratelimit({
        redis: this.#redis,
        prefix: `${PREFIX}:rl`,
        limiter:
          algorithm === 'fixed_window'
            ? Ratelimit.fixedWindow(limit, window)
            : algorithm === 'sliding_window'
              ? Ratelimit.slidingWindow(limit, window)
              : Ratelimit.tokenBucket(limit, window, limit),
        ephemeralCache: new Map(),
        timeout: 0,
        analytics: false,
        enableProtection: false,
      })
      this.#limiters.set(id, limiter)
    }
    return limiter
  }
}

const keyName = (keyId: string): string => `${PREFIX}:key:${keyId}`
const revokedName = (keyId: string): string => `${PREFIX}:key:${keyId}:revoked`
