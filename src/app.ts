/**
 * The gateway: the request's way, in order. Each step is a folder under `pipeline/`.
 *
 *   route → cors → authenticate → authorize → mcp → rate-limit → sign → forward
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { ADMIN_KEYS_PATH, adminKeyRoutes } from './admin/keys-route.ts'
import type { GatewayEnv } from './env.ts'
import { problemResponse, statusOf, type ChallengeContext } from './errors/problem.ts'
import { GatewayError, type Reason } from './errors/reasons.ts'
import { writeLogLine } from './log.ts'
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
import { jwksRoute } from './pipeline/sign/jwks-route.ts'
import type { CompiledPolicy } from './policy/types.ts'

export function createGateway(policy: CompiledPolicy): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.use(requestLog())
  app.get('/.well-known/jwks.json', jwksRoute)
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
  app.all('*', route(policy), cors(policy), authenticate(policy), authorize(), mcp(), rateLimit(policy), sign(policy), forward(policy))
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
    c.set('requestId', requestId)
    c.set('url', url)
    await next()
    const matched = c.get('route')
    const authentication = c.get('authentication')
    const decision = c.get('decision')
    const failure = c.get('failure')
    const storeFailure = c.get('storeFailure')
    writeLogLine({
      request_id: requestId,
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
        ? failure.reason === 'denied' || failure.reason === 'tool_denied' || failure.reason === 'rate_limited' || statusOf(failure) === 401 || statusOf(failure) === 403
          ? 'deny'
          : 'error'
        : decision && !decision.allowed
          ? 'would_deny'
          : 'allow',
      reason: failure?.reason ?? (decision && !decision.allowed ? 'denied' : 'allowed'),
      rule: failure?.reason === 'denied' || failure?.reason === 'tool_denied' || failure?.reason === 'rate_limited' ? failure.rule : (decision?.rule ?? null),
      // Why a token or session failed or its source was unavailable (never the credential itself).
      problem: failure && 'problem' in failure ? failure.problem : null,
      store_error: storeFailure ? { rule: storeFailure.rule, on_error: storeFailure.onError, timed_out: storeFailure.timedOut } : null,
      mcp_method: c.get('mcp')?.method ?? null,
      mcp_tool: c.get('mcp')?.tool ?? null,
      status: c.res.status,
      duration_ms: Date.now() - started,
    })
  }
}
