// The Node backend of the end-to-end test: Express with the packed package's Express adapter,
// CommonJS, run on the system's Node 20 where there is one. Copied into a project that installed
// the tarball, and started by test/e2e/verifier-backends.test.ts.
const express = require('express')
const { MemoryReplayCache } = require('@invoker-gateway/verifier')
const { requireInvoker } = require('@invoker-gateway/verifier/express')

const app = express()
app.use(
  requireInvoker({
    jwksUrl: process.env.JWKS_URL,
    issuer: process.env.ISSUER,
    audience: process.env.AUDIENCE,
    clockToleranceSeconds: Number(process.env.CLOCK_TOLERANCE ?? 5),
    replayCache: new MemoryReplayCache(),
  }),
)
app.use(express.raw({ type: () => true }))
app.all('/{*path}', (req, res) => {
  const verified = req.xInvoker
  res.json({
    backend: 'node',
    x_invoker: req.headers['x-invoker'],
    invoker: verified.invoker,
    auth: verified.auth,
    body_verified: verified.bodyVerified,
    request_id: verified.requestId,
    method: req.method,
    body_bytes: Buffer.isBuffer(req.body) ? req.body.length : 0,
  })
})
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))
process.on('SIGTERM', () => server.close())
