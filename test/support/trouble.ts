/**
 * A service in trouble, for tests of what the gateway does when something it depends on fails
 * (a JWKS endpoint, an introspection or session endpoint, a key directory): every path answers
 * 500 (`mode: 'error'`) or never answers (`mode: 'hang'`, the client must time out), and each
 * request is counted by path, so a test can tell how often the gateway asked.
 *
 *   GET /__hits?path=P     how many requests for path P arrived (this one not counted)
 *   /scripted/…?json=J     200 with the JSON object J (plus a claim `padding` of N bytes with
 *              [&pad=N]    &pad=N): a provider that answers what a test needs and a real one
 *                          will not (an introspection answer issued in the future, a huge one)
 *   anything else          500, or no answer at all
 */
import { createServer, type Server } from 'node:http'
import { freePort } from './ports.ts'

export interface TroubleServer {
  origin: string
  close(): Promise<void>
}

export async function startTroubleServer(mode: 'error' | 'hang'): Promise<TroubleServer> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const hits = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin)
    if (url.pathname === '/__hits') {
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(String(hits.get(url.searchParams.get('path') ?? '') ?? 0))
      return
    }
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1)
    req.resume()
    const scripted = url.pathname.startsWith('/scripted/') ? url.searchParams.get('json') : null
    if (scripted !== null) {
      const pad = Number(url.searchParams.get('pad') ?? 0)
      const body =
        pad > 0 ? JSON.stringify({ ...(JSON.parse(scripted) as object), padding: 'x'.repeat(pad) }) : scripted
      res.writeHead(200, { 'content-type': 'application/json' }).end(body)
      return
    }
    if (mode === 'error') res.writeHead(500, { 'content-type': 'text/plain' }).end('failing for the test')
    // 'hang': neither headers nor body; the connection stays open until the client gives up.
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
