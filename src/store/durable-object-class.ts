/**
 * The Durable Object behind the default store. One object per rate-limit or concurrency counter, a fixed set of
 * shards for runtime API keys (RUNTIME_KEY_SHARDS, by a hash of the key id, so random key ids
 * cannot create objects without bound) and 256 shards for nonces, so a hot key serializes only
 * its own object and never the whole gateway. State lives in the object's SQLite storage
 * (synchronous, in-process), so it survives eviction; an alarm deletes it once it can no longer
 * matter.
 *
 * Exported from the Worker entry (`src/index.ts`) for the `GATEWAY_STORE` binding.
 *
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { LEASE_HEADROOM_DIVISOR } from '../constants.ts'
import type { RateLimitAlgorithm } from '../policy/types.ts'
import { leaseStep, type CounterState } from './algorithms.ts'
import { slotStep, type SlotAnswer, type SlotState } from './slots.ts'
import type { LeaseGrant, MintedKeyRecord } from './types.ts'

const COUNTER = 'counter'
const SLOTS = 'slots'
const EXPIRES_AT = 'expires_at'

export class GatewayStoreObject extends DurableObject {
  #alarmAt: number | null = null
  #noncesReady = false
  #keysReady = false

  /** A lease of up to `want + extra` units (see algorithms.ts); one call, so it is atomic. */
  lease(
    algorithm: RateLimitAlgorithm,
    limit: number,
    windowMs: number,
    want: number,
    extra: number,
    adjustEpoch: number,
    adjustUnits: number,
  ): LeaseGrant {
    const kv = this.ctx.storage.kv
    const now = Date.now()
    const adjust = adjustUnits === 0 ? null : { epoch: adjustEpoch, units: adjustUnits }
    const step = leaseStep(
      { algorithm, limit, windowMs, now, want, extra, adjust, divisor: LEASE_HEADROOM_DIVISOR },
      kv.get<CounterState>(COUNTER) ?? null,
    )
    kv.put(COUNTER, step.state)
    kv.put(EXPIRES_AT, step.expiresAt)
    this.#scheduleCleanup(step.expiresAt)
    return step.grant
  }

  /** Takes, renews and gives back concurrency slots (see slots.ts); one call, so it is atomic. */
  slots(limit: number, leaseMs: number, acquire: string | null, renew: string[], release: string[]): SlotAnswer {
    const kv = this.ctx.storage.kv
    const step = slotStep(
      { now: Date.now(), limit, leaseMs, acquire, renew, release },
      kv.get<SlotState>(SLOTS) ?? null,
    )
    if (step.expiresAt === null) {
      kv.delete(SLOTS)
      kv.delete(EXPIRES_AT)
    } else {
      kv.put(SLOTS, step.state)
      kv.put(EXPIRES_AT, step.expiresAt)
      this.#scheduleCleanup(step.expiresAt)
    }
    return step.answer
  }

  /** Claims several nonces in one call (concurrent claims are batched by the caller). */
  claimMany(keys: string[], ttlMs: number[]): boolean[] {
    const sql = this.ctx.storage.sql
    if (!this.#noncesReady) {
      sql.exec('CREATE TABLE IF NOT EXISTS nonces (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)')
      this.#noncesReady = true
    }
    const now = Date.now()
    return keys.map((key, i) => {
      const expiresAt = now + (ttlMs[i] ?? 0)
      // An expired row is as good as absent: replace it. One statement, so no interleaving.
      const claimed =
        sql
          .exec(
            'INSERT INTO nonces (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ? RETURNING key',
            key,
            expiresAt,
            now,
          )
          .toArray().length === 1
      if (claimed) this.#scheduleCleanup(expiresAt)
      return claimed
    })
  }

  getKey(keyId: string): MintedKeyRecord | null {
    const row = this.#keys()
      .exec<{ record: string; revoked: number }>('SELECT record, revoked FROM keys WHERE key_id = ?', keyId)
      .toArray()[0]
    if (row === undefined) return null
    const record = JSON.parse(row.record) as MintedKeyRecord
    return row.revoked === 1 ? { ...record, revoked: true } : record
  }

  putKey(record: MintedKeyRecord): boolean {
    return (
      this.#keys()
        .exec(
          'INSERT INTO keys (key_id, record, revoked) VALUES (?, ?, 0) ON CONFLICT (key_id) DO NOTHING RETURNING key_id',
          record.keyId,
          JSON.stringify(record),
        )
        .toArray().length === 1
    )
  }

  listKeys(): MintedKeyRecord[] {
    return this.#keys()
      .exec<{ record: string; revoked: number }>('SELECT record, revoked FROM keys')
      .toArray()
      .map((row) => {
        const record = JSON.parse(row.record) as MintedKeyRecord
        return row.revoked === 1 ? { ...record, revoked: true } : record
      })
  }

  revokeKey(keyId: string): boolean {
    return (
      this.#keys().exec('UPDATE keys SET revoked = 1 WHERE key_id = ? RETURNING key_id', keyId).toArray().length === 1
    )
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
        storage.kv.delete(SLOTS)
        storage.kv.delete(EXPIRES_AT)
      } else next = counterExpiry
    }
    if (
      this.#noncesReady ||
      storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'nonces'").toArray().length > 0
    ) {
      this.#noncesReady = true
      storage.sql.exec('DELETE FROM nonces WHERE expires_at <= ?', now)
      const soonest = storage.sql
        .exec<{ soonest: number | null }>('SELECT MIN(expires_at) AS soonest FROM nonces')
        .one().soonest
      if (soonest !== null && (next === null || soonest < next)) next = soonest
    }
    if (next !== null) this.#scheduleCleanup(next)
  }

  #keys(): SqlStorage {
    const sql = this.ctx.storage.sql
    if (!this.#keysReady) {
      sql.exec(
        'CREATE TABLE IF NOT EXISTS keys (key_id TEXT PRIMARY KEY, record TEXT NOT NULL, revoked INTEGER NOT NULL)',
      )
      this.#keysReady = true
    }
    return sql
  }

  /** One pending alarm at a time; it reschedules itself while state remains. */
  #scheduleCleanup(at: number): void {
    if (this.#alarmAt !== null) return
    this.#alarmAt = at
    void this.ctx.storage.setAlarm(at)
  }
}
