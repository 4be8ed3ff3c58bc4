/**
 * A Map that holds at most `maxEntries`: setting a new key when full drops the oldest one (a Map
 * iterates in insertion order; `touch` moves a key to the newest end). Written by hand rather than
 * taken from an LRU library: the per-isolate tables that use it (rate-limit counters, runtime key
 * lookups) need only this, on the request path, with no per-entry allocation beyond the Map's.
 *
 * @module
 */
export class BoundedMap<K, V> {
  readonly #entries = new Map<K, V>()
  readonly #maxEntries: number

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries is a positive integer')
    this.#maxEntries = maxEntries
  }

  get size(): number {
    return this.#entries.size
  }

  get(key: K): V | undefined {
    return this.#entries.get(key)
  }

  set(key: K, value: V): void {
    this.#entries.delete(key)
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as K)
    this.#entries.set(key, value)
  }

  /** Marks a key as recently used, so it leaves last. */
  touch(key: K): void {
    const value = this.#entries.get(key)
    if (value === undefined) return
    this.#entries.delete(key)
    this.#entries.set(key, value)
  }

  delete(key: K): void {
    this.#entries.delete(key)
  }
}
