/**
 * The gateway: the request's way, in order. Each step is a folder under `pipeline/`.
 *
 *   route → cors → authenticate → authorize → mcp → rate-limit → streams → sign → forward
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { ADMIN_KEYS_PATH, adminKeyRoutes } from './admin/keys-route.ts'
import type { GatewayEnv } from './env.ts'
import { problemResponse, statusOf, type ChallengeContext } from './errors/problem.ts'
import { GatewayError, type Reason } from './errors/reasons.ts'
import { sha256Hex } from './keys/digest.ts'
import { writeLogLine, type RequestLogLine } from './log.ts'
import { writeMetric } from './metrics.ts'
import { METRIC_INVOKER_DIGEST_CHARS } from './constants.ts'
import { traceContext } from './trace-context.ts'
import { authenticate } from './pipeline/authenticate/index.ts'
import { acceptSignature } from './pipeline/authenticate/envelope/accept-signature.ts'
import { authorize } from './pipeline/authorize/index.ts'
import { cors } from './pipeline/cors/index.ts'
import { forward } from './pipeline/forward/index.ts'
import { mcp } from './pipeline/mcp/index.ts'
import { resourceMetadataPaths, resourceMetadataRoute } from './pipeline/mcp/resource-metadata-route.ts'
import { applyRateLimitHeaders } from './pipeline/rate-limit/headers.ts'
import { rateLimit } from './pipeline/rate-limit/index.ts'
import { route } from './pipeline/route/index.ts'
import { sign } from './pipeline/sign/index.ts'
import { streams } from './pipeline/streams/index.ts'
import { jwksRoute } from './pipeline/sign/jwks-route.ts'
import type { CompiledPolicy } from './policy/types.ts'

export function createGateway(policy: CompiledPolicy): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.use(requestLog())
  app.get('/.well-known/jwks.json', jwksRoute(policy))
  const metadataRoute = resourceMetadataRoute(policy)
  for (const path of resourceMetadataPaths(policy)) app.get(path, metadataRoute)
  const adminKeys = adminKeyRoutes(policy)
  const challengeContext: ChallengeContext = { sessionCookie: policy.session?.cookies[0] ?? null }
  // MCP packs name their resource metadata (and the scopes they need) in every challenge.
  const packChallenges = new Map<string, ChallengeContext>()
  for (const pack of policy.packs) {
    if (pack.mcp) packChallenges.set(pack.id, { ...challengeContext, mcp: { resourceMetadata: pack.mcp.metadataUrl, scope: pack.mcp.challengeScope } })
  }
  app.post(ADMIN_KEYS_PATH, adminKeys.mint)
  app.delete(`${ADMIN_KEYS_PATH}/:keyId`, adminKeys.revoke)
  app.get(ADMIN_KEYS_PATH, adminKeys.list)
  app.all('*', route(policy), cors(policy), authenticate(policy), authorize(), mcp(), rateLimit(policy), streams(policy), sign(policy), forward(policy))
  app.onError((error, c) => {
    const reason: Reason = error instanceof GatewayError ? error.detail : { reason: 'internal' }
    if (!(error instanceof GatewayError)) console.error(JSON.stringify({ request_id: c.get('requestId'), error: String(error) }))
    c.set('failure', reason)
    const pack = c.get('route')?.pack
    const response = problemResponse(reason, c.get('requestId'), (pack && packChallenges.get(pack.id)) ?? challengeContext)
    applyRateLimitHeaders(response.headers, c.get('rateLimitHeaders'))
    if (response.status === 401 && pack?.auth.includes('envelope')) {
      response.headers.set('accept-signature', acceptSignature(pack, policy.envelope, c.req.raw, c.get('url')))
    }
    return response
  })
  return app
}

function requestLog(): MiddlewareHandler<GatewayEnv> {
  return async function requestLog(c, next) {
    const started = Date.now()
    const requestId = crypto.randomUUID()
    const url = new URL(c.req.url)
    const headers = c.req.raw.headers
    const trace = traceContext(headers.get('traceparent'), headers.get('tracestate'))
    c.set('requestId', requestId)
    c.set('url', url)
    c.set('trace', trace)
    await next()
    const matched = c.get('route')
    const authentication = c.get('authentication')
    const decision = c.get('decision')
    const failure = c.get('failure')
    const storeFailure = c.get('storeFailure')
    const wouldDeny = c.get('wouldDeny')
    // What refused the request, or what enforce mode would have refused it with (report mode).
    const refusal = failure ?? wouldDeny
    const upstreamMs = c.get('upstreamMs')
    const line: RequestLogLine = {
      request_id: requestId,
      trace_id: trace.traceId,
      method: c.req.method,
      host: url.host,
      path: url.pathname,
      pack: matched?.pack.id ?? null,
      agent: matched?.agent?.name ?? null,
      invoker_id: authentication?.invoker.id ?? null,
      invoker_kind: authentication?.invoker.kind ?? null,
      auth_method: authentication?.auth.method ?? null,
      api_key: authentication?.auth.api_key ?? null,
      decision: failure
        ? failure.reason === 'denied' || failure.reason === 'tool_denied' || failure.reason === 'rate_limited' || failure.reason === 'concurrency_limited' || statusOf(failure) === 401 || statusOf(failure) === 403
          ? 'deny'
          : 'error'
        : wouldDeny || (decision && !decision.allowed)
          ? 'would_deny'
          : 'allow',
      reason: failure?.reason ?? wouldDeny?.reason ?? (decision && !decision.allowed ? 'denied' : 'allowed'),
      rule: refusal?.reason === 'denied' || refusal?.reason === 'tool_denied' || refusal?.reason === 'rate_limited' || refusal?.reason === 'concurrency_limited' ? refusal.rule : (decision?.rule ?? null),
      // Why a token or session failed or its source was unavailable (never the credential itself).
      problem: failure && 'problem' in failure ? (failure.problem ?? null) : null,
      store_error: storeFailure ? { rule: storeFailure.rule, on_error: storeFailure.onError, timed_out: storeFailure.timedOut } : null,
      degraded: c.get('degraded') ?? null,
      mcp_method: c.get('mcp')?.method ?? null,
      mcp_tool: c.get('mcp')?.tool ?? null,
      status: c.res.status,
      duration_ms: Date.now() - started,
      upstream_ms: upstreamMs ?? null,
    }
    writeLogLine(line)
    const metrics = c.env?.GATEWAY_METRICS
    if (metrics !== undefined) {
      // Only refusals carry the invoker's digest ("top refused invokers"): allowed requests skip the hash.
      const refused = (line.decision === 'deny' || line.decision === 'would_deny') && line.invoker_id !== null
      writeMetric(metrics, line, refused ? (await sha256Hex(line.invoker_id as string)).slice(0, METRIC_INVOKER_DIGEST_CHARS) : '')
    }
  }
}
