/**
 * The production store: Upstash Redis over its REST API. A rate-limit lease is one EVALSHA of
 * the gateway's own script (lease-script.ts), falling back to EVAL once when Redis does not know
 * it yet; concurrent calls from one isolate (several rules, several counters, nonces) are
 * auto-pipelined by the client into one HTTP request.
 *
 * The client is built with `retry: false`: its default retries a failed fetch for ~4 s, far
 * past any sensible `store_timeout`, and the rule's `on_error` is the policy's answer to a failure.
 * Callers bound every call with `withTimeout` (or the lease table's own timer), the same for both
 * stores.
 *
 * Per-isolate state here is bounded by the policy (no per-counter map): the lease table that
 * remembers counters lives in pipeline/rate-limit and is bounded by entries.
 *
 * @module
 */
import { Redis } from '@upstash/redis/cloudflare'
import { LEASE_HEADROOM_DIVISOR, MAX_LISTED_KEYS, STORE_TTL_SLACK_MS } from '../constants.ts'
import { ALGORITHM_CODES, LEASE_SCRIPT, LEASE_SCRIPT_SHA1 } from './lease-script.ts'
import { SLOT_SCRIPT, SLOT_SCRIPT_SHA1 } from './slot-script.ts'
import type { SlotAnswer } from './slots.ts'
import type { GatewayStore, LeaseGrant, LeaseRequest, MintedKeyRecord, SlotRequest } from './types.ts'

const PREFIX = 'igw'

export class UpstashStore implements GatewayStore {
  readonly kind = 'upstash'
  readonly #redis: Redis

  constructor(url: string, token: string) {
    this.#redis = new Redis({ url, token, retry: false, enableTelemetry: false })
  }

  async lease(request: LeaseRequest): Promise<LeaseGrant> {
    const keys = [`${PREFIX}:rl:${request.counter}`]
    const args = [
      ALGORITHM_CODES[request.algorithm],
      request.limit,
      request.windowMs,
      Date.now(),
      request.want,
      request.extra,
      request.adjust?.epoch ?? -1,
      request.adjust?.units ?? 0,
      LEASE_HEADROOM_DIVISOR,
      STORE_TTL_SLACK_MS,
    ]
    return grantFrom(await this.#script(LEASE_SCRIPT, LEASE_SCRIPT_SHA1, keys, args))
  }

  async slots(request: SlotRequest): Promise<SlotAnswer> {
    const keys = [`${PREFIX}:cc:${request.counter}`]
    const args = [
      Date.now(),
      request.limit,
      request.leaseMs,
      STORE_TTL_SLACK_MS,
      request.acquire ?? '',
      request.renew.length,
      ...request.renew,
      ...request.release,
    ]
    return slotAnswerFrom(await this.#script(SLOT_SCRIPT, SLOT_SCRIPT_SHA1, keys, args))
  }

  async #script(script: string, sha1: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(sha1, keys, args)
    } catch (error) {
      // A Redis that restarted or never saw the script: send it once (EVAL also caches it).
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error
      return await this.#redis.eval(script, keys, args)
    }
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(`${PREFIX}:nonce:${key}`, 1, { nx: true, px: ttlMs })) === 'OK'
  }

  async mintedKey(keyId: string): Promise<MintedKeyRecord | null> {
    const [record, revoked] = await this.#redis.mget<[MintedKeyRecord | null, number | null]>(
      keyName(keyId),
      revokedName(keyId),
    )
    if (record === null) return null
    return revoked === null ? record : { ...record, revoked: true }
  }

  async putMintedKey(record: MintedKeyRecord): Promise<boolean> {
    return (await this.#redis.set(keyName(record.keyId), JSON.stringify(record), { nx: true })) === 'OK'
  }

  /**
   * SCAN over the key records (an admin call, never per request): it needs no index kept on the
   * write path, and it finds every record, including those minted before listing existed.
   */
  async listMintedKeys(): Promise<MintedKeyRecord[]> {
    const ids: string[] = []
    let cursor: string | number = 0
    do {
      const [next, names]: [string | number, string[]] = await this.#redis.scan(cursor, {
        match: `${PREFIX}:key:*`,
        count: 500,
      })
      for (const name of names) if (!name.endsWith(':revoked')) ids.push(name.slice(`${PREFIX}:key:`.length))
      cursor = next
    } while (String(cursor) !== '0' && ids.length < MAX_LISTED_KEYS)
    const records: MintedKeyRecord[] = []
    for (let i = 0; i < ids.length; i += 100) {
      const batch = ids.slice(i, i + 100)
      const values = await this.#redis.mget<(MintedKeyRecord | number | null)[]>(
        ...batch.flatMap((id) => [keyName(id), revokedName(id)]),
      )
      for (let j = 0; j < batch.length; j++) {
        const record = values[2 * j]
        if (record === null || record === undefined || typeof record !== 'object') continue
        records.push(values[2 * j + 1] === null ? record : { ...record, revoked: true })
      }
    }
    return records
  }

  async revokeMintedKey(keyId: string): Promise<boolean> {
    // Revocation is its own key, so a revoke can never race a put into a half-written record.
    if ((await this.#redis.exists(keyName(keyId))) === 0) return false
    await this.#redis.set(revokedName(keyId), 1)
    return true
  }
}

/** The script's `{ granted, remaining, resetAt, retryAt, epoch, epochEnds }`, checked. */
function grantFrom(reply: unknown): LeaseGrant {
  if (!Array.isArray(reply) || reply.length !== 6 || !reply.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw new Error('the lease script answered in an unexpected shape')
  }
  const [granted, remaining, resetAt, retryAt, epoch, epochEnds] = reply as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  return { granted, remaining, resetAt, retryAt, epoch, epochEnds }
}

/** The script's `{ acquired, open, lost... }`, checked. */
function slotAnswerFrom(reply: unknown): SlotAnswer {
  if (!Array.isArray(reply) || reply.length < 2 || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
    throw new Error('the slot script answered in an unexpected shape')
  }
  const [acquired, open, ...lost] = reply as [number, number, ...unknown[]]
  return { acquired: acquired === -1 ? null : acquired === 1, open, lost: lost.map(String) }
}

const keyName = (keyId: string): string => `${PREFIX}:key:${keyId}`
const revokedName = (keyId: string): string => `${PREFIX}:key:${keyId}:revoked`
