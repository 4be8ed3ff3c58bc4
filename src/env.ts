/**
 * The Hono environment of the gateway: Worker bindings and the per-request variables each step
 * sets for the next one (route → authentication → decision → token).
 *
 * @module
 */
import type { Reason } from './errors/reasons.ts'
import type { Authentication } from './invoker.ts'
import type { Decision } from './pipeline/authorize/decide.ts'
import type { RouteMatch } from './pipeline/route/match.ts'

export interface Bindings {
  /** JSON JWK set; the first key signs, the public part of every asymmetric key is published. */
  INVOKER_SIGNING_KEYS?: string
}

export interface GatewayEnv {
  Bindings: Bindings
  Variables: {
    requestId: string
    /** The request URL, parsed once. */
    url: URL
    route: RouteMatch
    authentication: Authentication
    decision: Decision
    invokerToken: string
    /** Headers holding the credential that authenticated the call, removed before forwarding. */
    consumedHeaders: readonly string[]
    /** Why the request failed, set by `onError` for the log line. */
    failure: Reason
  }
}
