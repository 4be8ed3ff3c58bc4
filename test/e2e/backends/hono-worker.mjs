// The Worker backend of the end-to-end test: Hono with the packed package's Hono adapter, bundled
// by wrangler and served by workerd beside the gateway (test/e2e/verifier-backends.test.ts).
import { Hono } from 'hono'
import { MemoryReplayCache } from '@invoker-gateway/verifier'
import { requireInvoker } from '@invoker-gateway/verifier/hono'

const replayCache = new MemoryReplayCache()
let guard

const app = new Hono()
app.use((c, next) => {
  // Bindings arrive with the first request; the middleware is built once, on it.
  guard ??= requireInvoker({
    jwksUrl: c.env.JWKS_URL,
    issuer: c.env.ISSUER,
    audience: c.env.AUDIENCE,
    clockToleranceSeconds: Number(c.env.CLOCK_TOLERANCE),
    replayCache,
  })
  return guard(c, next)
})
app.all('*', async (c) => {
  const verified = c.var.xInvoker
  const body = await c.req.arrayBuffer()
  return c.json({
    backend: 'worker',
    x_invoker: c.req.header('x-invoker'),
    invoker: verified.invoker,
    auth: verified.auth,
    body_verified: verified.bodyVerified,
    request_id: verified.requestId,
    method: c.req.method,
    body_bytes: body.byteLength,
  })
})
export default app
