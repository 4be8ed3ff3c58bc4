/**
 * A real store (the Durable Object store in workerd, or Upstash) with faults added in front of
 * it: a delay before each lease reaches the store, a store that throws synchronously or rejects,
 * and a count of lease calls. The store behind it is real; only the way to it is made slow or
 * broken, which the real Durable Object runtime offers no way to do.
 */
import type { SlotAnswer } from '../../src/store/slots.ts'
import type { GatewayStore, LeaseGrant, LeaseRequest, MintedKeyRecord, SlotRequest } from '../../src/store/types.ts'

export type Fault = 'none' | 'throw' | 'reject' | 'hang'

export class FaultyStore implements GatewayStore {
  readonly kind: GatewayStore['kind']
  readonly #store: GatewayStore
  delayMs = 0
  fault: Fault = 'none'
  leases = 0
  /** Every lease request as sent (adjustments included), for assertions. */
  readonly requests: LeaseRequest[] = []

  constructor(store: GatewayStore) {
    this.#store = store
    this.kind = store.kind
  }

  lease(request: LeaseRequest): Promise<LeaseGrant> {
    this.leases++
    this.requests.push(request)
    if (this.fault === 'throw') throw new TypeError('the client could not be used')
    if (this.fault === 'reject') return Promise.reject(new Error('connection refused'))
    if (this.fault === 'hang') return new Promise(() => undefined)
    if (this.delayMs === 0) return this.#store.lease(request)
    const delay = this.delayMs
    return new Promise((resolve) => setTimeout(resolve, delay)).then(() => this.#store.lease(request))
  }
  /** Slot calls (concurrency rules), with the same faults as leases. */
  slotCalls = 0
  readonly slotRequests: SlotRequest[] = []
  slots(request: SlotRequest): Promise<SlotAnswer> {
    this.slotCalls++
    this.slotRequests.push(request)
    if (this.fault === 'throw') throw new TypeError('the client could not be used')
    if (this.fault === 'reject') return Promise.reject(new Error('connection refused'))
    if (this.fault === 'hang') return new Promise(() => undefined)
    if (this.delayMs === 0) return this.#store.slots(request)
    const delay = this.delayMs
    return new Promise((resolve) => setTimeout(resolve, delay)).then(() => this.#store.slots(request))
  }
  claimOnce(key: string, ttlMs: number): Promise<boolean> {
    return this.#store.claimOnce(key, ttlMs)
  }
  mintedKey(keyId: string): Promise<MintedKeyRecord | null> {
    if (this.fault === 'throw') throw new TypeError('the client could not be used')
    return this.#store.mintedKey(keyId)
  }
  putMintedKey(record: MintedKeyRecord): Promise<boolean> {
    return this.#store.putMintedKey(record)
  }
  revokeMintedKey(keyId: string): Promise<boolean> {
    return this.#store.revokeMintedKey(keyId)
  }

  listMintedKeys(): Promise<MintedKeyRecord[]> {
    return this.#store.listMintedKeys()
  }
}

/**
 * The real Durable Object namespace, counting which objects the gateway addresses (each
 * `idFromName` is followed by exactly one RPC in the store's code).
 */
export function countingNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
): {
  namespace: DurableObjectNamespace<T>
  calls: (prefix: string) => number
  names: (prefix: string) => Set<string>
} {
  const seen: string[] = []
  const counting = {
    idFromName(name: string): DurableObjectId {
      seen.push(name)
      return namespace.idFromName(name)
    },
    get(id: DurableObjectId): DurableObjectStub<T> {
      return namespace.get(id)
    },
  }
  return {
    namespace: counting as unknown as DurableObjectNamespace<T>,
    calls: (prefix) => seen.filter((n) => n.startsWith(prefix)).length,
    names: (prefix) => new Set(seen.filter((n) => n.startsWith(prefix))),
  }
}

/**
 * A Durable Object namespace whose stubs can be made to fail: once `down()` is called, every
 * call to the store's objects rejects (as a store that cannot be reached does). The objects
 * behind it are real; only the way to them is cut.
 */
export function breakableNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
): { namespace: DurableObjectNamespace<T>; down(): void } {
  let down = false
  const broken = (): Promise<never> => Promise.reject(new Error('the store is down for the test'))
  const breakable = {
    idFromName: (name: string): DurableObjectId => namespace.idFromName(name),
    get(id: DurableObjectId): DurableObjectStub<T> {
      const stub = namespace.get(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
      return new Proxy(stub, {
        get(target, method) {
          if (typeof method !== 'string' || method === 'then') return undefined
          return (...args: unknown[]) => (down ? broken() : target[method]?.(...args))
        },
      }) as unknown as DurableObjectStub<T>
    },
  }
  return {
    namespace: breakable as unknown as DurableObjectNamespace<T>,
    down: () => {
      down = true
    },
  }
}
