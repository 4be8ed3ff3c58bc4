/**
 * The Hono environment of the gateway: Worker bindings and the per-request variables each step
 * sets for the next one (route → authentication → decision → token).
 *
 * @module
 */
import type { DegradedInput } from './degraded.ts'
import type { Reason } from './errors/reasons.ts'
import type { Authentication } from './invoker.ts'
import type { Consumed } from './pipeline/authenticate/index.ts'
import type { Recheck } from './pipeline/authenticate/recheck.ts'
import type { ExpectedDigest } from './pipeline/authenticate/envelope/expected-digest.ts'
import type { Decision } from './pipeline/authorize/decide.ts'
import type { McpCall } from './pipeline/mcp/json-rpc.ts'
import type { RouteMatch } from './pipeline/route/match.ts'
import type { RateLimitHeaders } from './pipeline/rate-limit/headers.ts'
import type { GatewayStoreObject } from './store/durable-object-class.ts'
import type { TraceContext } from './trace-context.ts'

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

export interface GatewayEnv {
  Bindings: Bindings
  Variables: {
    requestId: string
    /** The request URL, parsed once. */
    url: URL
    route: RouteMatch
    /** The method rules and rate limits see: the request's, or the override the pack honours. */
    method: string
    /** The method-override headers forwarded with their method, when the pack honours one. */
    methodOverride: { headers: readonly string[]; method: string } | null
    authentication: Authentication
    decision: Decision
    invokerToken: string
    /** RateLimit-Policy / RateLimit values for the response, when the route has rules. */
    rateLimitHeaders: RateLimitHeaders | undefined
    /** The credential that authenticated the call (headers, session cookie), removed before forwarding. */
    consumed: Consumed
    /** A rate-limit store call that failed, for the log line (the rule's on_error decided). */
    storeFailure: { rule: string; onError: 'local' | 'allow' | 'deny'; timedOut: boolean } | undefined
    /** The Content-Digest a signed request's body must match while it streams (envelopes). */
    expectedDigest: ExpectedDigest | null
    /** Why the request failed, set by `onError` for the log line. */
    failure: Reason
    /**
     * Report mode: what enforce mode would have refused the request with (a missing credential,
     * a list, a scope); the request was forwarded and the log line says `would_deny` and this.
     */
    wouldDeny: Reason | undefined
    /** Inputs the request was decided with that were less than fresh (see degraded.ts); unset when none. */
    degraded: DegradedInput[] | undefined
    /** The W3C trace context sent to the backend (see trace-context.ts). */
    trace: TraceContext
    /** Milliseconds the backend took to send its response headers, once forwarded. */
    upstreamMs: number | undefined
    /** MCP packs: what the JSON-RPC message asks (method, tool), when the request carried one. */
    mcp: McpCall | undefined
    /** Rewrites the backend's answer before it goes back (an MCP tool list, filtered per caller). */
    responseTransform: ((upstream: Response) => Promise<Response>) | undefined
    /** Asks again about the credential the request came with (open streams); `null`: nothing to ask. */
    recheck: Recheck | null
  }
}

/**
 * A Worker secret the policy names (an HS256 key, an introspection client secret). Policy holds
 * only the name; `null` when the deployment has not set it.
 */
export function namedSecret(env: Bindings, name: string): string | null {
  const value = (env as Readonly<Record<string, unknown>>)[name]
  return typeof value === 'string' && value.length > 0 ? value : null
}
