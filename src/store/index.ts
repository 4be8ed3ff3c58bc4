/**
 * Which store serves this deployment: Upstash when both of its secrets are set, else the
 * Durable Object binding. Built once per isolate and configuration, so clients, their
 * connection state and the ephemeral caches live across requests.
 *
 * @module
 */
import type { Bindings } from '../env.ts'
import { GatewayError } from '../errors/reasons.ts'
import { DurableObjectStore } from './durable-object.ts'
import { StoreUnavailableError, withTimeout, type GatewayStore } from './types.ts'
import { UpstashStore } from './upstash.ts'

let cached: { url: string | undefined; token: string | undefined; namespace: unknown; store: GatewayStore | null } | null = null

export function storeFor(env: Bindings): GatewayStore | null {
  const url = env.UPSTASH_REDIS_REST_URL || undefined
  const token = env.UPSTASH_REDIS_REST_TOKEN || undefined
  const namespace = env.GATEWAY_STORE
  if (cached && cached.url === url && cached.token === token && cached.namespace === namespace) return cached.store
  const store = url && token ? new UpstashStore(url, token) : namespace ? new DurableObjectStore(namespace) : null
  cached = { url, token, namespace, store }
  return store
}

/**
 * A store call whose failure the request cannot route around (a runtime key, the admin
 * endpoint): bounded by `store_timeout`, and a failure or timeout becomes a 503 problem.
 */
export async function callStore<T>(operation: () => Promise<T>, timeoutMs: number): Promise<T> {
  try {
    return await withTimeout(operation, timeoutMs)
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw new GatewayError({ reason: 'store_unavailable', rule: null })
    throw error
  }
}
