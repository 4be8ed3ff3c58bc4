/**
 * A service that works until a test says it fails: each path answers what the test scripted
 * for it (200, JSON) until the test turns that path down (500), and again once it is turned up.
 * For tests of what the gateway does with the last good answer it has (degraded inputs): a
 * session or introspection endpoint, a JWKS, a Web Bot Auth key directory (served at the
 * origin's well-known path, so one origin is one directory).
 *
 *   PUT  /__script?path=P   the request body (JSON) becomes P's answer, and P is up
 *   POST /__down?path=P     P answers 500 from now on
 *   POST /__up?path=P       P answers its script again
 *   GET  /__seen?path=P     what P has been asked so far: `{ hits, headers }` (the last request's headers)
 *   anything else           its script, 500 while down, 404 when nothing was scripted
 *
 * The script is sent as it was PUT: a test may script a body that is no valid answer.
 */
import { createServer, type Server } from 'node:http'
import { freePort } from './ports.ts'

export interface FlakyServer {
  origin: string
  close(): Promise<void>
}

export async function startFlakyServer(): Promise<FlakyServer> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const scripts = new Map<string, string>()
  const down = new Set<string>()
  const seen = new Map<string, { hits: number; headers: Record<string, string | string[] | undefined> }>()
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const path = url.searchParams.get('path') ?? ''
      if (!url.pathname.startsWith('/__'))
        seen.set(url.pathname, { hits: (seen.get(url.pathname)?.hits ?? 0) + 1, headers: req.headers })
      if (url.pathname === '/__script' && req.method === 'PUT') {
        scripts.set(path, Buffer.concat(chunks).toString('utf8'))
        down.delete(path)
        res.writeHead(204).end()
      } else if (url.pathname === '/__down' && req.method === 'POST') {
        down.add(path)
        res.writeHead(204).end()
      } else if (url.pathname === '/__up' && req.method === 'POST') {
        down.delete(path)
        res.writeHead(204).end()
      } else if (url.pathname === '/__seen' && req.method === 'GET') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify(seen.get(path) ?? { hits: 0, headers: {} }))
      } else if (down.has(url.pathname)) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('down for the test')
      } else {
        const script = scripts.get(url.pathname)
        if (script === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end('nothing scripted')
        else res.writeHead(200, { 'content-type': 'application/json' }).end(script)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    origin,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
