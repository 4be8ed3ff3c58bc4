/**
 * The demo backend: a plain Node HTTP server standing for an unchanged agent backend. It trusts
 * nothing but a verified X-Invoker (checked with `@invoker-gateway/verifier`, the package backends
 * install, against the gateway's JWKS) and answers what it received, so you can see exactly what the gateway sends.
 *
 *   GET /stream  → server-sent events, one every 500 ms, five of them (`?events=N` for up to 600):
 *                  watch them arrive one by one
 *   GET /ws      → a WebSocket that greets the verified invoker and echoes messages
 *   anything     → JSON { x_invoker, invoker, auth, method, path, headers, body_bytes }
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { WebSocketServer } from 'ws'
// The published package (packages/verifier, built by `npm start`), as a backend installs it.
import { createInvokerVerifier, InvokerVerificationError, type RequestLike } from '@invoker-gateway/verifier'

export interface DemoBackendOptions {
  port: number
  host?: string
  jwksUrl: string
  issuer: string
  audience: string[]
}

export function nodeRequest(req: IncomingMessage): RequestLike {
  return {
    method: req.method ?? 'GET',
    url: `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`,
    headers: req.headers,
  }
}

export function startDemoBackend(options: DemoBackendOptions): Promise<Server> {
  const verifier = createInvokerVerifier({
    jwksUrl: options.jwksUrl,
    issuer: options.issuer,
    audience: options.audience,
  })
  const server = createServer(async (req, res) => {
    const raw = req.headers['x-invoker']
    let verified: Awaited<ReturnType<typeof verifier.verify>>
    try {
      verified = await verifier.verify(nodeRequest(req))
    } catch (error) {
      const reason = error instanceof InvokerVerificationError ? error.reason : 'error'
      const status = error instanceof InvokerVerificationError ? error.status : 500
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: `X-Invoker not verified: ${reason}`, reason, x_invoker: raw ?? null }))
      return
    }
    const path = new URL(req.url ?? '/', 'http://backend').pathname
    if (path === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      const asked = Number(new URL(req.url ?? '/', 'http://backend').searchParams.get('events') ?? 5)
      const events = Number.isInteger(asked) && asked > 0 ? Math.min(asked, 600) : 5
      let n = 0
      const timer = setInterval(() => {
        n++
        res.write(
          `event: tick\ndata: ${JSON.stringify({ n, invoker: verified.invoker.id, at: new Date().toISOString() })}\n\n`,
        )
        if (n === events) {
          clearInterval(timer)
          res.end()
        }
      }, 500)
      req.on('close', () => clearInterval(timer))
      return
    }
    let bodyBytes = 0
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length))
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify(
          {
            x_invoker: raw,
            invoker: verified.invoker,
            auth: verified.auth,
            method: req.method,
            path: req.url,
            headers: req.headers,
            body_bytes: bodyBytes,
          },
          null,
          2,
        ) + '\n',
      )
    })
  })
  const sockets = new WebSocketServer({ noServer: true })
  server.on('upgrade', async (req, socket, head) => {
    try {
      const { invoker } = await verifier.verify(nodeRequest(req))
      sockets.handleUpgrade(req, socket, head, (ws) => {
        ws.send(`hello ${invoker.id}`)
        ws.on('message', (data) => ws.send(`echo: ${String(data)}`))
      })
    } catch {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    }
  })
  server.on('close', () => sockets.close())
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve(server))
  })
}
