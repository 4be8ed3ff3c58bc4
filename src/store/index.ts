/**
 * Which store serves this deployment: Upstash when both of its secrets are set, else the
 * Durable Object binding. Built once per isolate and configuration, so clients, their
 * connection state and the ephemeral caches live across requests.
 *
 * @module
 */
import type { Bindings } from '../env.ts'
import { DurableObjectStore } from './durable-object.ts'
import type { GatewayStore } from './types.ts'
import { UpstashStore } from './upstash.ts'

let cached: { url: string | undefined; token: string | undefined; namespace: unknown; timeoutMs: number; store: GatewayStore | null } | null = null

export function storeFor(env: Bindings, timeoutMs: number): GatewayStore | null {
  const url = env.UPSTASH_REDIS_REST_URL || undefined
  const token = env.UPSTASH_REDIS_REST_TOKEN || undefined
  const namespace = env.GATEWAY_STORE
  if (cached && cached.url === url && cached.token === token && cached.namespace === namespace && cached.timeoutMs === timeoutMs) return cached.store
  const store = url && token ? new UpstashStore(url, token, timeoutMs) : namespace ? new DurableObjectStore(namespace) : null
  cached = { url, token, namespace, timeoutMs, store }
  return store
}
