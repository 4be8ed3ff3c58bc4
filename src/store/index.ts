/**
 * Which store serves this deployment: Upstash when both of its secrets are set, else the
 * Durable Object binding. Built once per isolate and configuration (a few configurations are
 * kept, so two gateways in one isolate, as in tests, do not rebuild each other's), so clients,
 * their connection state and the lease tables keyed by store live across requests.
 *
 * @module
 */
import { STORES_MAX_ENTRIES } from '../constants.ts'
import type { Bindings } from '../env.ts'
import { GatewayError } from '../errors/reasons.ts'
import { DurableObjectStore } from './durable-object.ts'
import type { SlotAnswer } from './slots.ts'
import {
  StoreUnavailableError,
  withTimeout,
  type GatewayStore,
  type LeaseGrant,
  type MintedKeyRecord,
} from './types.ts'
import { UpstashStore } from './upstash.ts'

interface Built {
  url: string | undefined
  token: string | undefined
  namespace: unknown
  store: GatewayStore | null
}

/** Most recently used last. */
const built: Built[] = []

export function storeFor(env: Bindings): GatewayStore | null {
  const url = env.UPSTASH_REDIS_REST_URL || undefined
  const token = env.UPSTASH_REDIS_REST_TOKEN || undefined
  const namespace = env.GATEWAY_STORE
  const at = built.findIndex((b) => b.url === url && b.token === token && b.namespace === namespace)
  if (at === built.length - 1 && at >= 0) return (built[at] as Built).store
  if (at >= 0) {
    const [hit] = built.splice(at, 1) as [Built]
    built.push(hit)
    return hit.store
  }
  const store = build(url, token, namespace)
  if (built.length >= STORES_MAX_ENTRIES) built.shift()
  built.push({ url, token, namespace, store })
  return store
}

function build(
  url: string | undefined,
  token: string | undefined,
  namespace: Bindings['GATEWAY_STORE'],
): GatewayStore | null {
  try {
    return url && token ? new UpstashStore(url, token) : namespace ? new DurableObjectStore(namespace) : null
  } catch (error) {
    // A client that cannot be built (a malformed URL) is a store that fails every call, so each
    // caller ends in its own failure decision (on_error, or 503), never a 500 (issue 12 item 11).
    return new UnavailableStore(
      `the store could not be set up: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

/** A store that answers every call with the same failure. */
export class UnavailableStore implements GatewayStore {
  /** Only an Upstash client can fail to be built (the Durable Object binding is given whole). */
  readonly kind: GatewayStore['kind'] = 'upstash'
  readonly #message: string

  constructor(message: string) {
    this.#message = message
  }

  #fail(): Promise<never> {
    return Promise.reject(new StoreUnavailableError(this.#message, false))
  }
  lease(): Promise<LeaseGrant> {
    return this.#fail()
  }
  slots(): Promise<SlotAnswer> {
    return this.#fail()
  }
  claimOnce(): Promise<boolean> {
    return this.#fail()
  }
  mintedKey(): Promise<MintedKeyRecord | null> {
    return this.#fail()
  }
  putMintedKey(): Promise<boolean> {
    return this.#fail()
  }
  revokeMintedKey(): Promise<boolean> {
    return this.#fail()
  }
  listMintedKeys(): Promise<MintedKeyRecord[]> {
    return this.#fail()
  }
}

/**
 * A store call whose failure the request cannot route around (a runtime key, a nonce, the admin
 * endpoint): bounded by `store_timeout`, and any failure (a throw, a rejection, a timeout)
 * becomes a 503 problem.
 */
export async function callStore<T>(operation: () => Promise<T>, timeoutMs: number): Promise<T> {
  try {
    return await withTimeout(operation, timeoutMs)
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw new GatewayError({ reason: 'store_unavailable', rule: null })
    throw error
  }
}
