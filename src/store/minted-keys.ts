/**
 * Lookups of runtime API keys, remembered briefly per isolate (issue 13 item 5, issue 12 item 8).
 * A lookup's answer, found or not found, is trusted for RUNTIME_KEY_CACHE_TTL_MS, so revocation
 * and new keys reach every isolate within that bound, and at once in the isolate that served the
 * admin call (it forgets the key id). Concurrent lookups of one key id share one store read.
 * Failures are never remembered. The table is bounded by entries: a flood of random key ids
 * costs at most one store read per id and a bounded amount of memory.
 *
 * @module
 */
import { RUNTIME_KEY_CACHE_MAX_ENTRIES, RUNTIME_KEY_CACHE_TTL_MS, STORE_WAIT_GRACE_MS } from '../constants.ts'
import { BoundedMap } from './bounded-map.ts'
import { callStore } from './index.ts'
import type { GatewayStore, MintedKeyRecord } from './types.ts'

interface Answer {
  record: MintedKeyRecord | null
  /** When the store gave the answer. */
  at: number
  expiresAt: number
}

export class MintedKeyLookups {
  readonly #store: GatewayStore
  readonly #answers: BoundedMap<string, Answer>
  readonly #inflight = new Map<string, Promise<MintedKeyRecord | null>>()
  /** Bumped by `forget`, so a read that was already in flight cannot bring back what it forgot. */
  #generation = 0

  constructor(store: GatewayStore, maxEntries = RUNTIME_KEY_CACHE_MAX_ENTRIES) {
    this.#store = store
    this.#answers = new BoundedMap(maxEntries)
  }

  get size(): number {
    return this.#answers.size
  }

  /**
   * The key's record or null; a store that cannot answer is a 503 (GatewayError). `maxAgeMs`
   * narrows how old a remembered answer may be (the recheck of an open stream asks for one no
   * older than its period).
   */
  lookup(
    keyId: string,
    timeoutMs: number,
    now = Date.now(),
    maxAgeMs = RUNTIME_KEY_CACHE_TTL_MS,
  ): Promise<MintedKeyRecord | null> {
    const answer = this.#answers.get(keyId)
    if (answer !== undefined) {
      if (now < answer.expiresAt && now - answer.at < maxAgeMs) return Promise.resolve(answer.record)
      this.#answers.delete(keyId)
    }
    const pending = this.#inflight.get(keyId)
    // Joined with a timer of this request's own: on Workers, a request that waits on another
    // request's I/O with nothing pending of its own is cancelled as hung.
    if (pending !== undefined) return callStore(() => pending, timeoutMs + STORE_WAIT_GRACE_MS)
    const generation = this.#generation
    const read = callStore(() => this.#store.mintedKey(keyId), timeoutMs).then(
      (record) => {
        this.#inflight.delete(keyId)
        const at = Date.now()
        if (generation === this.#generation)
          this.#answers.set(keyId, { record, at, expiresAt: at + RUNTIME_KEY_CACHE_TTL_MS })
        return record
      },
      (error: unknown) => {
        this.#inflight.delete(keyId)
        throw error
      },
    )
    this.#inflight.set(keyId, read)
    return read
  }

  /** After a mint or revoke in this isolate: the next lookup reads the store. */
  forget(keyId: string): void {
    this.#generation++
    this.#answers.delete(keyId)
    this.#inflight.delete(keyId)
  }
}

const lookups = new WeakMap<GatewayStore, MintedKeyLookups>()

/** One lookup table per store, shared by authentication and the admin endpoint. */
export function mintedKeyLookups(store: GatewayStore): MintedKeyLookups {
  let table = lookups.get(store)
  if (table === undefined) {
    table = new MintedKeyLookups(store)
    lookups.set(store, table)
  }
  return table
}
