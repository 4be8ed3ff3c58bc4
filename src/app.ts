/**
 * The gateway: the request's way, in order. Each step is a function in a folder under
 * `pipeline/` that takes the request's state (state.ts), records what it learned, and returns it
 * or throws the request's error; nothing runs between the steps.
 *
 *   route → cors → authenticate → authorize → mcp → rate-limit → streams → sign → forward
 *
 * Around them: the gateway's own endpoints (found by the route table first), one answer for any
 * error, the fields every answer carries, the log line and the metric.
 *
 * @module
 */
import { adminKeyRoutes } from './admin/keys-route.ts'
import { METRIC_INVOKER_DIGEST_CHARS } from './constants.ts'
import type { Bindings } from './env.ts'
import { problemResponse } from './errors/problem.ts'
import { GatewayError, type Reason } from './errors/reasons.ts'
import { answerFields } from './http/answer.ts'
import { sha256Hex } from './keys/digest.ts'
import { requestLogLine, writeLogLine } from './log.ts'
import { writeMetric } from './metrics.ts'
import { authenticate } from './pipeline/authenticate/index.ts'
import { authorize } from './pipeline/authorize/index.ts'
import { cors } from './pipeline/cors/index.ts'
import { forward } from './pipeline/forward/index.ts'
import { mcp } from './pipeline/mcp/index.ts'
import { resourceMetadataRoute } from './pipeline/mcp/resource-metadata-route.ts'
import { rateLimit } from './pipeline/rate-limit/index.ts'
import { route } from './pipeline/route/index.ts'
import { jwksRoute } from './pipeline/sign/jwks-route.ts'
import { sign } from './pipeline/sign/index.ts'
import { streams } from './pipeline/streams/index.ts'
import type { CompiledPolicy, GatewayEndpoint } from './policy/types.ts'
import { RequestState } from './state.ts'

export interface Gateway {
  fetch(request: Request, env: Bindings, ctx?: ExecutionContext): Promise<Response>
}

export function createGateway(policy: CompiledPolicy): Gateway {
  const steps = {
    route: route(policy),
    cors: cors(policy),
    authenticate: authenticate(policy),
    mcp: mcp(policy),
    rateLimit: rateLimit(policy),
    streams: streams(policy),
    sign: sign(policy),
    forward: forward(policy),
  }
  const endpoints: Record<GatewayEndpoint, (s: RequestState) => Promise<Response>> = {
    jwks: jwksRoute(policy),
    resource_metadata: resourceMetadataRoute(policy),
    admin_keys: adminKeyRoutes(policy),
  }

  async function pipeline(s: RequestState): Promise<Response> {
    const routed = steps.route(s) // 404, 405, 400
    if (typeof routed === 'string') return endpoints[routed](s) // the gateway's own
    const preflight = steps.cors(routed) // a preflight's answer
    if (preflight !== null) return preflight
    const caller = await steps.authenticate(routed) // 401, 503
    authorize(caller) // 403
    await steps.mcp(caller) // JSON-RPC errors
    await steps.rateLimit(caller) // 429
    await steps.streams.open(caller) // 429 (concurrency)
    const signed = await steps.sign(caller) // X-Invoker
    return steps.streams.watch(caller, await steps.forward(signed)) // 502, 504
  }

  return {
    async fetch(request, env, ctx) {
      const s = new RequestState(request, env, ctx)
      let response: Response
      try {
        response = await pipeline(s)
      } catch (error) {
        response = failed(s, error)
      }
      // A HEAD request is answered as its GET, without the body (RFC 9110 §9.3.2).
      if (request.method === 'HEAD' && response.body !== null) response = new Response(null, response)
      await finish(s, response.status)
      return response
    },
  }
}

/** The request's error, rendered; anything but a GatewayError is a 500 that says nothing more. */
function failed(s: RequestState, error: unknown): Response {
  const reason: Reason = error instanceof GatewayError ? error.detail : { reason: 'internal' }
  if (!(error instanceof GatewayError)) console.error(JSON.stringify({ request_id: s.requestId, error: String(error) }))
  s.failure = reason
  s.release?.()
  const response = problemResponse(reason, s.requestId, s.challenge)
  answerFields(response.headers, s)
  return response
}

async function finish(s: RequestState, status: number): Promise<void> {
  const line = requestLogLine(s, status)
  writeLogLine(line)
  const metrics = s.env?.GATEWAY_METRICS
  if (metrics === undefined) return
  // Only refusals carry the invoker's digest ("top refused invokers"): allowed requests skip the hash.
  const refused = (line.decision === 'deny' || line.decision === 'would_deny') && line.invoker_id !== null
  writeMetric(
    metrics,
    line,
    refused ? (await sha256Hex(line.invoker_id as string)).slice(0, METRIC_INVOKER_DIGEST_CHARS) : '',
  )
}
