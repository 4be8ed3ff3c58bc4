/**
 * The Durable Object behind the default store. One object per rate-limit counter, one per
 * minted key, and 256 shards for nonces, so a hot key serializes only its own object and never
 * the whole gateway. State lives in the object's SQLite storage (synchronous, in-process), so it
 * survives eviction; an alarm deletes it once it can no longer matter.
 *
 * Exported from the Worker entry (`src/index.ts`) for the `GATEWAY_STORE` binding.
 *
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import type { RateLimitAlgorithm } from '../policy/types.ts'
import { countRequest, type CounterState } from './algorithms.ts'
import type { MintedKeyRecord, RateLimitOutcome } from './types.ts'

const COUNTER = 'counter'
const KEY = 'key'
const EXPIRES_AT = 'expires_at'

export class GatewayStoreObject extends DurableObject {
  #alarmAt: number | null = null
  #noncesReady = false

  count(algorithm: RateLimitAlgorithm, limit: number, windowMs: number): RateLimitOutcome {
    const kv = this.ctx.storage.kv
    const now = Date.now()
    const step = countRequest(algorithm, limit, windowMs, now, kv.get<CounterState>(COUNTER) ?? null)
    kv.put(COUNTER, step.state)
    kv.put(EXPIRES_AT, step.expiresAt)
    this.#scheduleCleanup(step.expiresAt)
    return step.outcome
  }

  claim(key: string, ttlMs: number): boolean {
    const sql = this.ctx.storage.sql
    if (!this.#noncesReady) {
      sql.exec('CREATE TABLE IF NOT EXISTS nonces (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)')
      this.#noncesReady = true
    }
    const now = Date.now()
    const expiresAt = now + ttlMs
    // An expired row is as good as absent: replace it. One statement, so no interleaving.
    const claimed = sql
      .exec(
        'INSERT INTO nonces (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ? RETURNING key',
        key,
        expiresAt,
        now,
      )
      .toArray().length === 1
    if (claimed) this.#scheduleCleanup(expiresAt)
    return claimed
  }

  getKey(): MintedKeyRecord | null {
    return this.ctx.storage.kv.get<MintedKeyRecord>(KEY) ?? null
  }

  putKey(record: MintedKeyRecord): boolean {
    const kv = this.ctx.storage.kv
    if (kv.get(KEY) !== undefined) return false
    kv.put(KEY, record)
    return true
  }

  revokeKey(): boolean {
    const kv = this.ctx.storage.kv
    const record = kv.get<MintedKeyRecord>(KEY)
    if (record === undefined) return false
    kv.put(KEY, { ...record, revoked: true })
    return true
  }

  override async alarm(): Promise<void> {
    this.#alarmAt = null
    const now = Date.now()
    const storage = this.ctx.storage
    let next: number | null = null
    const counterExpiry = storage.kv.get<number>(EXPIRES_AT)
    if (counterExpiry !== undefined) {
      if (counterExpiry <= now) {
        storage.kv.delete(COUNTER)
        storage.kv.delete(EXPIRES_AT)
      } else next = counterExpiry
    }
    if (this.#noncesReady || storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'nonces'").toArray().length > 0) {
      this.#noncesReady = true
      storage.sql.exec('DELETE FROM nonces WHERE expires_at <= ?', now)
      const soonest = storage.sql.exec<{ soonest: number | null }>('SELECT MIN(expires_at) AS soonest FROM nonces').one().soonest
      if (soonest !== null && (next === null || soonest < next)) next = soonest
    }
    if (next !== null) this.#scheduleCleanup(next)
  }

  /** One pending alarm at a time; it reschedules itself while state remains. */
  #scheduleCleanup(at: number): void {
    if (this.#alarmAt !== null) return
    this.#alarmAt = at
    void this.ctx.storage.setAlarm(at)
  }
}
