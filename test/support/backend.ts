/**
 * A real HTTP backend for tests (Node `http`, on loopback). It answers what it received, and has
 * a few endpoints that make streaming observable: each waits for a signal that the client can
 * only send after it saw the previous piece, so a gateway that buffers deadlocks the test
 * instead of passing it.
 *
 *   /_control/signal?name=N      raise signal N          /_control/seen?name=N   whether N was raised
 *   /_control/received?id=R      what arrived of the request whose X-Request-Id is R:
 *                                { arrived, body_bytes, complete } (arrived is false if nothing did)
 *   /sse-lockstep?name=N         event 1, wait for signal N, event 2, end
 *   /upload                      counts body bytes; raises "upload-started" at the first chunk and
 *                                "upload-complete-<x-request-id>" when the whole request arrived
 *   /slow?ms=M                   sends headers after M ms
 *   /sse-ticks?ms=M              an event every M ms (default 200) until the client goes; raises
 *                                "closed-<x-request-id>" when the connection closes
 *   /sse-quiet                   one event, then nothing until the client goes (same signal)
 *   /drip                        a plain text body, a line every 200 ms until the client goes (same signal)
 *   /never-read                  never reads the body and never answers
 *   /ws                          WebSocket echo (prefixes "echo:"); raises "ws-closed-<x-request-id>"
 *                                with the close code as "ws-close-code-<id>-<code>" when it closes
 *   /answer?status=S&reflect=1&h=Name:Value   answers status S (default 200) with the fields h
 *                                names, echoing the request's Origin in Access-Control-Allow-Origin
 *                                when reflect is set (a backend's own CORS)
 *   anything else                JSON { method, path, headers, body_bytes }
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'

export interface TestBackend {
  origin: string
  port: number
  close(): Promise<void>
}

export async function startTestBackend(port = 0): Promise<TestBackend> {
  const signals = new Set<string>()
  const waiters = new Map<string, Array<() => void>>()
  const raise = (name: string): void => {
    signals.add(name)
    for (const wake of waiters.get(name) ?? []) wake()
    waiters.delete(name)
  }
  const waitFor = (name: string, ms: number): Promise<boolean> =>
    signals.has(name)
      ? Promise.resolve(true)
      : new Promise((resolve) => {
          const timer = setTimeout(() => resolve(false), ms)
          waiters.set(name, [
            ...(waiters.get(name) ?? []),
            () => {
              clearTimeout(timer)
              resolve(true)
            },
          ])
        })

  /** Every request that reached the backend, by the X-Request-Id the gateway gave it. */
  const received = new Map<string, { body_bytes: number; complete: boolean }>()

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://backend')
    const name = url.searchParams.get('name') ?? ''
    if (url.pathname === '/answer') {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (url.searchParams.has('reflect') && req.headers.origin) {
        headers['access-control-allow-origin'] = req.headers.origin
        headers['access-control-allow-credentials'] = 'true'
      }
      for (const field of url.searchParams.getAll('h')) {
        const colon = field.indexOf(':')
        headers[field.slice(0, colon)] = field.slice(colon + 1)
      }
      res.writeHead(Number(url.searchParams.get('status') ?? 200), headers)
      res.end('{"answered":true}')
      return
    }
    if (url.pathname === '/_control/received') {
      const entry = received.get(url.searchParams.get('id') ?? '')
      res.end(JSON.stringify(entry ? { arrived: true, ...entry } : { arrived: false, body_bytes: 0, complete: false }))
      return
    }
    const requestId = req.headers['x-request-id']
    const record = { body_bytes: 0, complete: false }
    if (typeof requestId === 'string') received.set(requestId, record)
    req.on('data', (chunk: Buffer) => (record.body_bytes += chunk.length))
    req.on('end', () => (record.complete = true))
    if (url.pathname === '/_control/signal') {
      raise(name)
      res.end('ok')
      return
    }
    if (url.pathname === '/_control/seen') {
      res.end(String(signals.has(name)))
      return
    }
    if (url.pathname === '/sse-lockstep') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write('data: first\n\n')
      void waitFor(name, 10_000).then((seen) => {
        res.end(seen ? 'data: second\n\n' : 'data: timeout\n\n')
      })
      return
    }
    if (url.pathname === '/sse-ticks' || url.pathname === '/sse-quiet') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      let n = 0
      res.write(`data: ${n++}\n\n`)
      const every = Number(url.searchParams.get('ms') ?? 200)
      const timer = url.pathname === '/sse-ticks' ? setInterval(() => res.write(`data: ${n++}\n\n`), every) : undefined
      res.on('close', () => {
        clearInterval(timer)
        raise(`closed-${String(requestId)}`)
      })
      return
    }
    if (url.pathname === '/drip') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('line\n')
      const timer = setInterval(() => res.write('line\n'), 200)
      res.on('close', () => {
        clearInterval(timer)
        raise(`closed-${String(requestId)}`)
      })
      return
    }
    if (url.pathname === '/never-read') {
      // Stops the body's flow (the 'data' listener above started it): TCP's buffers fill and the sender must wait.
      req.pause()
      return
    }
    if (url.pathname === '/slow') {
      const timer = setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 1000))
      res.on('close', () => clearTimeout(timer))
      return
    }
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      if (bytes === 0 && url.pathname === '/upload') raise('upload-started')
      bytes += chunk.length
    })
    req.on('end', () => {
      if (url.pathname === '/upload') raise(`upload-complete-${String(req.headers['x-request-id'])}`)
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] })
      res.end(JSON.stringify({ method: req.method, path: req.url, headers: req.headers, body_bytes: bytes }))
    })
  })

  const sockets = new WebSocketServer({ server, path: '/ws' })
  sockets.on('connection', (socket, req) => {
    const id = String(req.headers['x-request-id'])
    socket.send(`hello ${req.headers['x-invoker'] ? 'with' : 'without'} x-invoker`)
    socket.on('message', (data, binary) => socket.send(binary ? data : `echo:${String(data)}`, { binary }))
    socket.on('close', (code) => {
      raise(`ws-close-code-${id}-${code}`)
      raise(`ws-closed-${id}`)
    })
  })

  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const actual = (server.address() as AddressInfo).port
  return {
    origin: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () =>
      new Promise((resolve) => {
        sockets.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
