/**
 * The default store: Durable Objects reached through the `GATEWAY_STORE` binding, one RPC per
 * call. Object names spread the load (see durable-object-class.ts).
 *
 * @module
 */
import type { GatewayStoreObject } from './durable-object-class.ts'
import type { GatewayStore, MintedKeyRecord, RateLimitOutcome, RateLimitRequest } from './types.ts'

const NONCE_SHARDS = 256

/**
 * The object's RPC surface as the caller sees it. Spelled out because the inferred stub type
 * of a class with a structured return value is too deep for TypeScript to instantiate.
 */
interface StoreObjectStub {
  count(algorithm: RateLimitRequest['algorithm'], limit: number, windowMs: number): Promise<RateLimitOutcome>
  claim(key: string, ttlMs: number): Promise<boolean>
  getKey(): Promise<MintedKeyRecord | null>
  putKey(record: MintedKeyRecord): Promise<boolean>
  revokeKey(): Promise<boolean>
}

export class DurableObjectStore implements GatewayStore {
  readonly kind = 'durable_object'
  readonly #namespace: DurableObjectNamespace<GatewayStoreObject>

  constructor(namespace: DurableObjectNamespace<GatewayStoreObject>) {
    this.#namespace = namespace
  }

  #object(name: string): StoreObjectStub {
    return this.#namespace.get(this.#namespace.idFromName(name)) as unknown as StoreObjectStub
  }

  limit(request: RateLimitRequest): Promise<RateLimitOutcome> {
    return this.#object(`rl:${request.counter}`).count(request.algorithm, request.limit, request.windowMs)
  }

  claimOnce(key: string, ttlMs: number): Promise<boolean> {
    return this.#object(`nonce:${shardOf(key)}`).claim(key, ttlMs)
  }

  mintedKey(keyId: string): Promise<MintedKeyRecord | null> {
    return this.#object(`key:${keyId}`).getKey()
  }

  putMintedKey(record: MintedKeyRecord): Promise<boolean> {
    return this.#object(`key:${record.keyId}`).putKey(record)
  }

  revokeMintedKey(keyId: string): Promise<boolean> {
    return this.#object(`key:${keyId}`).revokeKey()
  }
}

/** FNV-1a: a cheap, stable spread of nonce keys over shards (not a security boundary). */
function shardOf(key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % NONCE_SHARDS
}
