/**
 * One request's state: what the request came with, and what each step learned of it, in the
 * order the steps run. One object per request, with every field there from the start (so the
 * runtime sees one shape), passed from step to step; the log line, the metric and the error
 * renderer read it at the end. It imports nothing from the steps: the shapes steps record are
 * declared here or in shared modules (http/, policy/), so no import cycle can run through it.
 *
 * A step takes the state typed with what earlier steps set ({@link Routed},
 * {@link Authenticated}, {@link Signed}), sets its own fields and returns it typed with them:
 * fields a step has not set yet are `null` to everyone else (the log line of a request refused
 * at its route has no invoker).
 *
 * @module
 */
import type { DegradedInput } from './degraded.ts'
import type { Bindings } from './env.ts'
import type { Challenge } from './errors/challenges.ts'
import type { GatewayError, Reason } from './errors/reasons.ts'
import type { ClientAddress } from './http/client-address.ts'
import type { McpCall } from './http/json-rpc.ts'
import type { Outcome } from './outcome.ts'
import type { RateLimitHeaders } from './http/ratelimit-fields.ts'
import { clientAddress } from './http/request.ts'
import type { Authentication } from './invoker.ts'
import type { Decision } from './policy/rules.ts'
import type { RouteMatch } from './policy/types.ts'
import { newTrace, traceContext, type TraceContext } from './trace-context.ts'

/** The method-override headers the pack honours and the request carries, with the method they name. */
export interface MethodOverride {
  headers: readonly string[]
  method: string
}

/**
 * The headers of the credential the gateway consumed, removed before forwarding (the session
 * cookies are removed on every pack: forward/headers.ts).
 */
export interface Consumed {
  headers: readonly string[]
}

export const NOTHING_CONSUMED: Consumed = { headers: [] }

/**
 * The body a signed request forwards, checked against its Content-Digest (RFC 9530) by the step
 * that verified the signature: read whole and checked before it is sent, or checked as it
 * streams. Either way, the backend receives the bytes that matched, or the request fails.
 */
export type BodyCheck = (abort: () => void) => Promise<CheckedBody>

export interface CheckedBody {
  body: ReadableStream<Uint8Array> | Uint8Array
  /** Once the upstream fetch failed: the error the body's check explains it with, if any. */
  failure(): GatewayError | null
}

/** Why an open stream's credential no longer holds: `code` for the log, `detail` for the client. */
export interface Revocation {
  code: string
  detail: string
}

/** Still valid (ok), revoked (refused), or the source could not answer. */
export type RecheckResult = Outcome<null, Revocation>

/** Asks again about the credential behind an open stream, trusting no answer older than `maxAgeMs`. Never throws. */
export type Recheck = (maxAgeMs: number) => Promise<RecheckResult>

/** The CORS fields of an answer to a browser caller (the preflight is answered by the cors step). */
export interface CorsFields {
  /** `Access-Control-Allow-Origin`: the caller's origin when the pack trusts it. */
  allowOrigin: string | null
  credentials: boolean
  /** `Access-Control-Expose-Headers`. */
  expose: string
}

/** A rate-limit or concurrency store call that failed, for the log line (the rule's on_error decided). */
export interface StoreFailure {
  rule: string
  onError: 'local' | 'allow' | 'deny'
  timedOut: boolean
}

/**
 * The request's `url` when the runtime's own URL for it cannot be parsed (workerd builds it from
 * the raw Host field: `Host: a b` makes none). The route step refuses the request (400), and its
 * log line names this host, not the one sent.
 */
export const UNPARSABLE_URL: URL = new URL('http://unparsable.invalid/')

export class RequestState {
  readonly started = Date.now()
  readonly requestId = crypto.randomUUID()
  /** The request URL, parsed once. */
  readonly url: URL
  /** The W3C trace context sent to the backend (see trace-context.ts). */
  readonly trace: TraceContext
  /** Where the caller is (CF-Connecting-IP), canonical, read once: anonymous ids, `by: ip` rules, X-Forwarded-For. */
  readonly clientAddress: ClientAddress | null

  route: RouteMatch | null = null
  /** The method rules and rate limits see: the request's, or the override the pack honours. */
  method: string
  methodOverride: MethodOverride | null = null
  cors: CorsFields | null = null
  /** What a 401 of this pack names: set by authenticate, rendered with any later 401. */
  challenge: Challenge | null = null
  authentication: Authentication | null = null
  /** The credential that authenticated the call (headers, session cookie), removed before forwarding. */
  consumed: Consumed = NOTHING_CONSUMED
  /** Signed requests: how the body is checked against its Content-Digest on its way. */
  bodyCheck: BodyCheck | null = null
  /** Asks again about the credential the request came with (open streams); `null`: nothing to ask. */
  recheck: Recheck | null = null
  decision: Decision | null = null
  /** MCP packs: what the JSON-RPC message asks (method, tool), when the request carried one. */
  mcp: McpCall | null = null
  /** Rewrites the backend's answer before it goes back (an MCP tool list, filtered per caller). */
  answerTransform: ((upstream: Response) => Promise<Response>) | null = null
  /** RateLimit-Policy / RateLimit values of every answer from the rate-limit step on. */
  rateLimitFields: RateLimitHeaders | null = null
  storeFailure: StoreFailure | null = null
  /** What the request holds until its answer ends (concurrency slots): given back if it fails first. */
  release: (() => void) | null = null
  invokerToken: string | null = null
  /** Milliseconds the backend took to send its response headers, once forwarded. */
  upstreamMs: number | null = null
  /**
   * Report mode: what enforce mode would have refused the request with (a missing credential,
   * a list, a scope); the request was forwarded and the log line says `would_deny` and this.
   */
  wouldDeny: Reason | null = null
  /** Why the request failed, for the log line. */
  failure: Reason | null = null
  /** Inputs the request was decided with that were less than fresh (see degraded.ts); most requests have none. */
  degraded: DegradedInput[] | null = null

  readonly request: Request
  readonly env: Bindings
  readonly ctx: ExecutionContext | undefined

  constructor(request: Request, env: Bindings, ctx: ExecutionContext | undefined) {
    this.request = request
    this.env = env
    this.ctx = ctx
    this.url = URL.parse(request.url) ?? UNPARSABLE_URL
    this.method = request.method
    const headers = request.headers
    this.clientAddress = clientAddress(headers)
    const traceparent = headers.get('traceparent')
    this.trace = traceparent === null ? newTrace() : traceContext(traceparent, headers.get('tracestate'))
  }

  /** Adds an entry to the request's degraded inputs. */
  noteDegraded(entry: DegradedInput): void {
    if (this.degraded === null) this.degraded = [entry]
    else this.degraded.push(entry)
  }

  /** Work that must finish even if the client is gone: the runtime keeps the request alive for it. */
  keepUntil(work: Promise<unknown>): void {
    if (this.ctx === undefined) return
    this.ctx.waitUntil(work)
  }
}

/** After the route step: the request's pack is known. */
export type Routed = RequestState & { route: RouteMatch }
/** After authenticate: the invoker is known (an anonymous one included). */
export type Authenticated = Routed & { authentication: Authentication }
/** After sign: the X-Invoker token is made. */
export type Signed = Authenticated & { invokerToken: string }
