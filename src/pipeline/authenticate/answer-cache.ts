/**
 * Remembers verification answers that cost a network call (token introspection, session
 * lookups) for a short time, in the isolate. Keys are SHA-256 digests of the credential, so the
 * credential itself is never held longer than the request that carried it.
 *
 * @module
 */
import { ANSWER_CACHE_MAX_ENTRIES } from '../../constants.ts'

interface Entry<T> {
  value: T
  expiresAt: number
}

export class AnswerCache<T> {
  readonly #entries = new Map<string, Entry<T>>()
  readonly #maxEntries: number

  constructor(maxEntries = ANSWER_CACHE_MAX_ENTRIES) {
    this.#maxEntries = maxEntries
  }

  get(digest: string, now = Date.now()): T | undefined {
    const entry = this.#entries.get(digest)
    if (entry === undefined) return undefined
    if (now >= entry.expiresAt) {
      this.#entries.delete(digest)
      return undefined
    }
    return entry.value
  }

  set(digest: string, value: T, ttlMs: number, now = Date.now()): void {
    if (ttlMs <= 0) return
    this.#entries.delete(digest)
    // A Map iterates in insertion order: its first key is the oldest entry.
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(digest, { value, expiresAt: now + ttlMs })
  }
}
