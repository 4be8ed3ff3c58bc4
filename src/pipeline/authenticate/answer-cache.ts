/**
 * Remembers verification answers that cost a network call or a signature check (introspected
 * tokens, verified JWTs, sessions) for a short time, in the isolate. Keys carry a SHA-256 digest
 * of the credential, so the credential itself is never held longer than the request that carried
 * it; values are the mapped invoker, never the raw claims or session payload.
 *
 * Each cache is bounded twice, by entries and by bytes (`lru-cache`: least recently used leaves
 * first), because an entry's size is the caller's to choose: a bound on entries alone lets ten
 * thousand large claim sets fill the isolate's 128 MB.
 *
 * @module
 */
import { LRUCache } from 'lru-cache'
import {
  ANSWER_CACHE_ENTRY_OVERHEAD_BYTES,
  ANSWER_CACHE_MAX_BYTES,
  ANSWER_CACHE_MAX_ENTRIES,
  ANSWER_CACHE_MAX_ENTRY_BYTES,
} from '../../constants.ts'

export interface AnswerCacheLimits {
  maxEntries: number
  maxBytes: number
  /** An answer larger than this is not remembered (it is asked for again next time). */
  maxEntryBytes: number
}

const DEFAULT_LIMITS: AnswerCacheLimits = {
  maxEntries: ANSWER_CACHE_MAX_ENTRIES,
  maxBytes: ANSWER_CACHE_MAX_BYTES,
  maxEntryBytes: ANSWER_CACHE_MAX_ENTRY_BYTES,
}

/** `Date` rather than `performance`: every other clock in the gateway is `Date.now()`. */
const CLOCK = { now: (): number => Date.now() }

export class AnswerCache<T extends object> {
  readonly #lru: LRUCache<string, T>

  /** @param sizeOf the bytes a value holds (its JSON's by default); the key's own are added. */
  constructor(sizeOf: (value: T) => number = jsonBytes, limits: AnswerCacheLimits = DEFAULT_LIMITS) {
    this.#lru = new LRUCache<string, T>({
      max: limits.maxEntries,
      maxSize: limits.maxBytes,
      maxEntrySize: limits.maxEntryBytes,
      sizeCalculation: (value, key) =>
        Math.max(1, Math.ceil(key.length * 2 + sizeOf(value) + ANSWER_CACHE_ENTRY_OVERHEAD_BYTES)),
      // lru-cache debounces its clock with a timer by default; a timer started in one request
      // may never fire on Workers (it belongs to that request), which would freeze the clock.
      ttlResolution: 0,
      perf: CLOCK,
    })
  }

  get(key: string): T | undefined {
    return this.#lru.get(key)
  }

  set(key: string, value: T, ttlMs: number): void {
    const ttl = Math.floor(ttlMs)
    if (ttl <= 0) return
    this.#lru.set(key, value, { ttl })
  }

  /** Entries and bytes held now (tests and diagnostics). */
  get usage(): { entries: number; bytes: number } {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }
}

/** The bytes a JSON value holds in the isolate, near enough: two per UTF-16 unit of its JSON. */
export function jsonBytes(value: unknown): number {
  return (JSON.stringify(value)?.length ?? 0) * 2
}
