/**
 * The gateway's Worker bindings (secrets, the store, the metrics dataset). What a request learns
 * on its way is in state.ts.
 *
 * @module
 */
import type { GatewayStoreObject } from './store/durable-object-class.ts'

export interface Bindings {
  /** JSON JWK set; the first key signs, the public part of every asymmetric key is published. */
  INVOKER_SIGNING_KEYS?: string
  /** Upstash Redis REST endpoint and token; when both are set, Upstash is the store. */
  UPSTASH_REDIS_REST_URL?: string
  UPSTASH_REDIS_REST_TOKEN?: string
  /** The default store (wrangler.toml declares it). */
  GATEWAY_STORE?: DurableObjectNamespace<GatewayStoreObject>
  /** Bearer token of the key-minting endpoint; the endpoint is off when unset. */
  GATEWAY_ADMIN_TOKEN?: string
  /** Workers Analytics Engine dataset for one data point per request; metrics are off when unbound. */
  GATEWAY_METRICS?: AnalyticsEngineDataset
}

/**
 * A Worker secret the policy names (an HS256 key, an introspection client secret). Policy holds
 * only the name; `null` when the deployment has not set it.
 */
export function namedSecret(env: Bindings, name: string): string | null {
  const value = (env as Readonly<Record<string, unknown>>)[name]
  return typeof value === 'string' && value.length > 0 ? value : null
}
