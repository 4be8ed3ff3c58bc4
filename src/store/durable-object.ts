/**
 * The default store: Durable Objects reached through the `GATEWAY_STORE` binding, one RPC per
 * call. Object names spread the load (see durable-object-class.ts). Nonce claims that arrive
 * while a claim to the same shard is in flight wait for it and then go together in one RPC, so
 * concurrent signed requests cost one round trip per shard, not one each; each claim is still
 * its own atomic statement, so a nonce is claimed exactly once.
 *
 * @module
 */
import { MAX_LISTED_KEYS, RUNTIME_KEY_SHARDS } from '../constants.ts'
import type { GatewayStoreObject } from './durable-object-class.ts'
import type { SlotAnswer } from './slots.ts'
import type { GatewayStore, LeaseGrant, LeaseRequest, MintedKeyRecord, SlotRequest } from './types.ts'

const NONCE_SHARDS = 256

/**
 * The object's RPC surface as the caller sees it. Spelled out because the inferred stub type
 * of a class with a structured return value is too deep for TypeScript to instantiate.
 */
interface StoreObjectStub {
  lease(
    algorithm: LeaseRequest['algorithm'],
    limit: number,
    windowMs: number,
    want: number,
    extra: number,
    adjustEpoch: number,
    adjustUnits: number,
  ): Promise<LeaseGrant>
  slots(limit: number, leaseMs: number, acquire: string | null, renew: string[], release: string[]): Promise<SlotAnswer>
  claimMany(keys: string[], ttlMs: number[]): Promise<boolean[]>
  getKey(keyId: string): Promise<MintedKeyRecord | null>
  putKey(record: MintedKeyRecord): Promise<boolean>
  revokeKey(keyId: string): Promise<boolean>
  listKeys(): Promise<MintedKeyRecord[]>
}

interface PendingClaim {
  key: string
  ttlMs: number
  /** Set when the call that carried the claim is over. */
  result: boolean | Error | undefined
}

interface Shard {
  queue: PendingClaim[]
  /** The call in flight, made by a request that waits for it (others only follow it). */
  inflight: Promise<void> | null
}

export class DurableObjectStore implements GatewayStore {
  readonly kind = 'durable_object'
  readonly #namespace: DurableObjectNamespace<GatewayStoreObject>
  /** Nonce shards with a claim in flight; an entry exists only while one is. */
  readonly #shards = new Map<number, Shard>()

  constructor(namespace: DurableObjectNamespace<GatewayStoreObject>) {
    this.#namespace = namespace
  }

  #object(name: string): StoreObjectStub {
    return this.#namespace.get(this.#namespace.idFromName(name)) as unknown as StoreObjectStub
  }

  lease(request: LeaseRequest): Promise<LeaseGrant> {
    const { algorithm, limit, windowMs, want, extra, adjust } = request
    return this.#object(`rl:${request.counter}`).lease(
      algorithm,
      limit,
      windowMs,
      want,
      extra,
      adjust?.epoch ?? -1,
      adjust?.units ?? 0,
    )
  }

  /** One object per concurrency counter, as for rate-limit counters. */
  slots(request: SlotRequest): Promise<SlotAnswer> {
    return this.#object(`cc:${request.counter}`).slots(
      request.limit,
      request.leaseMs,
      request.acquire,
      [...request.renew],
      [...request.release],
    )
  }

  /**
   * Claims arriving while a call to their shard is in flight queue up and go together in the
   * next call, sent by one of them once the call before is over. Each claimer only follows calls
   * made by others (on Workers, awaiting another request's promise is safe; having one's own
   * promise resolved from another request is not: the waiter would resume inside that request).
   */
  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const index = shardOf(key, NONCE_SHARDS)
    let shard = this.#shards.get(index)
    if (shard === undefined) {
      shard = { queue: [], inflight: null }
      this.#shards.set(index, shard)
    }
    const claim: PendingClaim = { key, ttlMs, result: undefined }
    shard.queue.push(claim)
    for (;;) {
      shard.inflight ??= this.#send(index, shard)
      await shard.inflight
      if (claim.result instanceof Error) throw claim.result
      if (claim.result !== undefined) return claim.result
    }
  }

  async #send(index: number, shard: Shard): Promise<void> {
    const batch = shard.queue
    shard.queue = []
    try {
      const claimed = await this.#object(`nonce:${index}`).claimMany(
        batch.map((c) => c.key),
        batch.map((c) => c.ttlMs),
      )
      batch.forEach((c, i) => {
        c.result = claimed[i] === true
      })
    } catch (error) {
      for (const c of batch) c.result = error instanceof Error ? error : new Error(String(error))
    } finally {
      shard.inflight = null
      if (shard.queue.length === 0) this.#shards.delete(index)
    }
  }

  mintedKey(keyId: string): Promise<MintedKeyRecord | null> {
    return this.#keyShard(keyId).getKey(keyId)
  }

  putMintedKey(record: MintedKeyRecord): Promise<boolean> {
    return this.#keyShard(record.keyId).putKey(record)
  }

  revokeMintedKey(keyId: string): Promise<boolean> {
    return this.#keyShard(keyId).revokeKey(keyId)
  }

  /**
   * Asks every shard: the shards are a fixed set of RUNTIME_KEY_SHARDS objects, so a listing
   * costs that many calls, made together, however many keys were minted.
   */
  async listMintedKeys(): Promise<MintedKeyRecord[]> {
    const shards = Array.from({ length: RUNTIME_KEY_SHARDS }, (_, i) => this.#object(`keys:${i}`).listKeys())
    return (await Promise.all(shards)).flat().slice(0, MAX_LISTED_KEYS)
  }

  /** One of RUNTIME_KEY_SHARDS objects, never one per key id (issue 12 item 8). */
  #keyShard(keyId: string): StoreObjectStub {
    return this.#object(keyShardName(keyId))
  }
}

/** The object that holds a runtime key's record: `keys:<0…RUNTIME_KEY_SHARDS-1>`. */
export function keyShardName(keyId: string): string {
  return `keys:${shardOf(keyId, RUNTIME_KEY_SHARDS)}`
}

/** FNV-1a: a cheap, stable spread of names over shards (not a security boundary). */
function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % shards
}
