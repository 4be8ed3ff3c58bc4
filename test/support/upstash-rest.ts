/**
 * An Upstash-REST-compatible front for a real local Redis, so the real `@upstash/redis` client
 * and Lua scripts (the gateway's lease script, Upstash-flagged scripts such as
 * `@upstash/ratelimit`'s) run in tests with no network. Implements what
 * the client uses (../shared/notes/upstash-local-redis.md): POST `/`, `/pipeline`,
 * `/multi-exec`; bearer token; `Upstash-Encoding: base64` on every string at any depth;
 * numbers as JSON numbers; 400 for a failed single command, per-entry errors in pipelines.
 *
 * Redis 7.0 rejects the Upstash-only `allow-key-locking` script flag, so scripts are rewritten
 * without it and EVALSHA of the original sha is mapped to the rewritten one.
 *
 * Test control (same token): POST /__control/redis/stop|start, /__control/delay?ms=N, /__control/flush,
 * /__control/watch?match=S (start counting HTTP requests and commands whose arguments contain S),
 * /__control/stats?match=S (the counts: `{ requests, commands }`; several tests can watch
 * different strings at once, e.g. their own pack id, without seeing each other's traffic).
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RedisReplyError, RedisServer, RespClient, type RespValue } from './redis.ts'

export interface UpstashRestAdapter {
  url: string
  token: string
  redis: RedisServer
  close(): Promise<void>
}

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

function rewriteScript(script: string): string {
  return script.replace(/^#!lua([^\n]*)/, (_, flags: string) => {
    const kept = flags.replace(/flags=([^\s]*)/, (_m, list: string) => {
      const rest = list.split(',').filter((f) => f !== 'allow-key-locking')
      return rest.length ? `flags=${rest.join(',')}` : ''
    })
    return `#!lua${kept.trimEnd()}`
  })
}

export async function startUpstashRestAdapter(token = 'test-upstash-token'): Promise<UpstashRestAdapter> {
  const redis = await RedisServer.start()
  const client = new RespClient(redis.port)
  const shaMap = new Map<string, string>()
  let delayMs = 0
  const watched = new Map<string, { requests: number; commands: number }>()
  const count = (commands: unknown[][]): void => {
    if (watched.size === 0) return
    const texts = commands.map((c) => c.map(String).join(' '))
    for (const [match, counts] of watched) {
      const hits = texts.filter((t) => t.includes(match)).length
      if (hits > 0) {
        counts.requests++
        counts.commands += hits
      }
    }
  }

  const prepare = (raw: unknown[]): string[] => {
    const args = raw.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))
    const name = (args[0] ?? '').toLowerCase()
    if ((name === 'eval' || name === 'eval_ro') && args[1] !== undefined) {
      const rewritten = rewriteScript(args[1])
      shaMap.set(sha1(args[1]), sha1(rewritten))
      args[1] = rewritten
    } else if ((name === 'evalsha' || name === 'evalsha_ro') && args[1] !== undefined) {
      args[1] = shaMap.get(args[1].toLowerCase()) ?? args[1]
    } else if (name === 'script' && (args[1] ?? '').toLowerCase() === 'load' && args[2] !== undefined) {
      const rewritten = rewriteScript(args[2])
      shaMap.set(sha1(args[2]), sha1(rewritten))
      args[2] = rewritten
    }
    return args
  }

  const encode = (value: RespValue, base64: boolean): unknown => {
    if (Array.isArray(value))
      return value.map((v) => (v instanceof RedisReplyError ? { error: v.message } : encode(v, base64)))
    if (typeof value === 'string') return base64 ? Buffer.from(value, 'utf8').toString('base64') : value
    return value
  }
  const entry = (value: RespValue, base64: boolean): unknown =>
    value instanceof RedisReplyError ? { error: value.message } : { result: encode(value, base64) }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: 'Unauthorized' })
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = new URL(req.url ?? '/', 'http://adapter')
    if (url.pathname.startsWith('/__control/')) {
      const action = url.pathname.slice('/__control/'.length)
      if (action === 'redis/stop') await redis.stop()
      else if (action === 'redis/start') await redis.start()
      else if (action === 'delay') delayMs = Number(url.searchParams.get('ms') ?? 0)
      else if (action === 'flush') await client.send([['FLUSHALL']])
      else if (action === 'watch') watched.set(url.searchParams.get('match') ?? '', { requests: 0, commands: 0 })
      else if (action === 'stats')
        return send(200, { result: watched.get(url.searchParams.get('match') ?? '') ?? null })
      else return send(404, { error: 'unknown control' })
      return send(200, { result: 'OK' })
    }
    if (req.method !== 'POST') return send(405, { error: 'POST only' })
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    const base64 = (req.headers['upstash-encoding'] ?? '').toString().toLowerCase() === 'base64'
    let body: unknown
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      return send(400, { error: 'ERR body is not JSON' })
    }
    try {
      if (url.pathname === '/' || url.pathname === '') {
        if (!Array.isArray(body)) return send(400, { error: 'ERR a command is a JSON array' })
        count([body])
        const [reply] = await client.send([prepare(body)])
        if (reply instanceof RedisReplyError) return send(400, { error: reply.message })
        return send(200, { result: encode(reply as RespValue, base64) })
      }
      if (url.pathname === '/pipeline' || url.pathname === '/multi-exec') {
        if (!Array.isArray(body) || !body.every(Array.isArray))
          return send(400, { error: 'ERR a pipeline is an array of commands' })
        count(body as unknown[][])
        const commands = (body as unknown[][]).map(prepare)
        if (url.pathname === '/pipeline') {
          const replies = await client.send(commands)
          return send(
            200,
            replies.map((r) => entry(r, base64)),
          )
        }
        const replies = await client.send([['MULTI'], ...commands, ['EXEC']])
        const queued = replies.slice(1, -1).find((r) => r instanceof RedisReplyError)
        if (queued instanceof RedisReplyError) return send(400, { error: queued.message })
        const exec = replies[replies.length - 1]
        if (exec instanceof RedisReplyError) return send(400, { error: exec.message })
        return send(
          200,
          (exec as RespValue[]).map((r) => entry(r, base64)),
        )
      }
      return send(404, { error: 'not found' })
    } catch (error) {
      return send(500, { error: error instanceof Error ? error.message : String(error) })
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(error))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    redis,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      client.close()
      await redis.stop()
    },
  }
}
