/**
 * Replay protection: a backend that keeps the ids (`jti`) of the tokens it accepted can refuse a
 * second use of one, which `htm`/`htu` alone cannot (the same request may be sent twice within
 * the token's 60 s). Optional: pass a cache as `replayCache`.
 *
 * The verifier asks the cache only after every other check passed, so forged or foreign tokens
 * never take a place in it; and it hands over `exp` + the clock tolerance, the last moment the
 * token could still be accepted, so the id is kept exactly as long as a replay could succeed.
 *
 * @module
 */
import { REPLAY_CACHE_MAX_ENTRIES } from './constants.ts'

export interface ReplayCache {
  /**
   * Records `jti` as used until `expiresAt` (Unix seconds) and says whether this was its first
   * use. Must be atomic (a check-and-set): with Redis, `SET key 1 NX EXAT expiresAt`. Returning
   * `false` refuses the token with reason `replayed`; throwing fails the verification.
   */
  firstUse(jti: string, expiresAt: number): boolean | Promise<boolean>
}

export interface MemoryReplayCacheOptions {
  /** Most ids kept (default 100,000). */
  maxEntries?: number
  /** The clock, in Unix seconds (for tests). */
  now?: () => number
}

/**
 * Ids in one process's memory, bounded. Good for one backend process; several processes or
 * machines behind one gateway pack need a shared store (Redis, in the README).
 *
 * When full, the oldest id leaves first (tokens share one lifetime, so it is also the one that
 * expires soonest): a replay of that one token would then pass. Only tokens the gateway signed get in, so an outsider cannot fill the cache; size it
 * above your peak requests per second × (token lifetime + tolerance).
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #maxEntries: number
  readonly #now: () => number
  /** jti → expiry; Map keeps insertion order, and tokens arrive in near expiry order. */
  readonly #seen = new Map<string, number>()

  constructor(options: MemoryReplayCacheOptions = {}) {
    const max = options.maxEntries ?? REPLAY_CACHE_MAX_ENTRIES
    if (!Number.isInteger(max) || max < 1) throw new TypeError('maxEntries must be a positive integer')
    this.#maxEntries = max
    this.#now = options.now ?? (() => Date.now() / 1000)
  }

  get size(): number {
    return this.#seen.size
  }

  firstUse(jti: string, expiresAt: number): boolean {
    const now = this.#now()
    const known = this.#seen.get(jti)
    if (known !== undefined && known > now) return false
    if (known !== undefined) this.#seen.delete(jti)
    // Drop expired ids from the old end; tokens share one lifetime, so that is where they are.
    for (const [id, expiry] of this.#seen) {
      if (expiry > now && this.#seen.size < this.#maxEntries) break
      this.#seen.delete(id)
    }
    this.#seen.set(jti, expiresAt)
    return true
  }
}
