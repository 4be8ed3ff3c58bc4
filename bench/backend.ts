/**
 * The benchmark backend: answers every request with a fixed body, as fast as Node can; and, for
 * the bearer rows, plays the identity provider's JWKS endpoint (`/jwks`, from BENCH_JWKS).
 * `/__echo` answers with the request headers it received, so the bench can check once, before
 * it measures, that a Worker forwards what it should (the lean reference's X-Invoker verifies).
 */
import { createServer } from 'node:http'

const body = Buffer.from('{"ok":true}')
const jwks = Buffer.from(process.env['BENCH_JWKS'] ?? '{"keys":[]}')
const server = createServer((req, res) => {
  req.resume()
  if (req.url === '/__echo') {
    const echoed = Buffer.from(JSON.stringify(req.headers))
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': echoed.length })
    res.end(echoed)
    return
  }
  if (req.url === '/jwks') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': jwks.length })
    res.end(jwks)
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`)
})
