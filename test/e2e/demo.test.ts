/**
 * End to end, as a user runs it: `npm start` (demo backend + `wrangler dev`) on free loopback
 * ports, then real HTTP from outside: the README's curl lines, the signed header, streaming,
 * WebSockets, and hostile bytes on a raw socket.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { promisify } from 'node:util'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { devVar } from '../../demo/dev-vars.ts'
import { freePort } from '../support/ports.ts'

const ALICE = 'igw_qG4an6Js_JwDnILpSivy0KByD08R9eBpiHVXZsAEOSpqSKGJAhH81kHfZC'
const run = promisify(execFile)

let gateway: string
let child: ChildProcess
let output = ''

beforeAll(async () => {
  const port = await freePort()
  const backendPort = await freePort()
  const [mcpPort, authorizationServerPort] = [await freePort(), await freePort()]
  gateway = `http://127.0.0.1:${port}`
  // As the README says: `npm start -- --port N`; the other ports through their variables.
  child = spawn(process.execPath, ['demo/start.ts', '--port', String(port)], {
    env: {
      ...process.env,
      DEMO_BACKEND_PORT: String(backendPort),
      DEMO_MCP_PORT: String(mcpPort),
      DEMO_AS_PORT: String(authorizationServerPort),
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const deadline = Date.now() + 90_000
  for (;;) {
    try {
      if ((await fetch(`${gateway}/.well-known/jwks.json`)).ok) break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the demo did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}, 120_000)

afterAll(() => {
  if (child?.pid) process.kill(-child.pid, 'SIGTERM')
})

describe('the README', () => {
  const lines = readFileSync('README.md', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('curl ') && line.includes('# → '))
  it('has curl lines to check', () => expect(lines.length).toBeGreaterThan(8))

  it.each(lines.map((line) => [line.replace(/\s+#.*/, '').slice(0, 90), line]))('%s', async (_, line) => {
    const [command, comment] = line.split(/\s+# → /) as [string, string]
    const expected = comment.slice(0, 3)
    const args = [...command.matchAll(/'[^']*'|\S+/g)].map((m) => m[0].replace(/^'|'$/g, '')).slice(1)
    const url = args.map((a) => a.replace('http://127.0.0.1:8787', gateway))
    const { stdout } = await run('curl', [...url, '-s', '-o', '/dev/null', '-w', '%{http_code}'], { timeout: 20_000 })
    expect(stdout).toBe(expected)
  })
})

describe('the MCP pack of the demo', () => {
  const BOB = 'igw_qmUuv6oj_HKVMERJ1zk8BApkxPFNTkYvjG4ZvUK9L2gZKwLzKRLB2NCfp4'
  const rpc = async (key: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${gateway}/packs/tools/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(body),
    })
    const text = await response.text()
    const data = text.split('\n').find((line) => line.startsWith('data: {'))
    return JSON.parse(data ? data.slice(6) : text) as Record<string, unknown>
  }
  const names = async (key: string): Promise<string[]> =>
    (
      (await rpc(key, { jsonrpc: '2.0', id: 1, method: 'tools/list' }))['result'] as { tools: { name: string }[] }
    ).tools.map((t) => t.name)

  it('shows Alice four tools and Bob three, as the README says', async () => {
    expect(await names(ALICE)).toEqual(['echo', 'whoami', 'count', 'delete_notes'])
    expect(await names(BOB)).toEqual(['echo', 'whoami', 'count'])
  })

  it("refuses Bob's delete_notes with a JSON-RPC error, and tells the server who called what", async () => {
    expect(
      await rpc(BOB, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'delete_notes', arguments: {} } }),
    ).toMatchObject({ id: 2, error: { code: -32602 } })
    const whoami = (
      await rpc(ALICE, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'whoami', arguments: {} } })
    )['result'] as { content: { text: string }[] }
    expect(JSON.parse(whoami.content[0]?.text as string)).toMatchObject({
      invoker: { id: 'apikey:demo-alice' },
      mcp: { method: 'tools/call', tool: 'whoami' },
    })
  })

  it("publishes the demo authorization server in the pack's resource metadata", async () => {
    const metadata = await (await fetch(`${gateway}/.well-known/oauth-protected-resource/packs/tools/mcp`)).json()
    expect(metadata).toMatchObject({
      resource: 'http://127.0.0.1:8787/packs/tools/mcp',
      authorization_servers: ['http://127.0.0.1:8790'],
      scopes_supported: ['mcp:tools'],
    })
  })
})

describe('the README walk-through of long streams', () => {
  it('refuses a third concurrent stream on the public pack, and ends an echo stream whose key is revoked', async () => {
    const readme = readFileSync('README.md', 'utf8')
    const from = readme.indexOf('```sh\n', readme.indexOf('**Long streams.**'))
    const script = readme.slice(from + 6, readme.indexOf('```', from + 6)).replaceAll('http://127.0.0.1:8787', gateway)
    expect(script).toContain('keys revoke')
    const started = Date.now()
    const { stdout } = await run('bash', ['-c', script], { timeout: 55_000 })
    // Without the recheck the stream would run its whole minute.
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(stdout).toContain('third stream: 429')
    expect(stdout).toMatch(/event: tick\ndata: \{"n":1,/)
    expect(stdout).toMatch(
      /event: gateway_closed\ndata: \{"reason":"revoked_mid_stream","detail":"The API key has been revoked\."\}\n\n$/,
    )
  }, 60_000)
})

describe('rate limits and runtime keys through wrangler dev (Durable Object store)', () => {
  it('sends the RateLimit fields on a limited route: the rate limit and the concurrency rule', async () => {
    const response = await fetch(`${gateway}/packs/public/hello`)
    expect(response.status).toBe(200)
    expect(response.headers.get('ratelimit-policy')).toBe(
      '"anon-ip";q=60;w=60, "open-requests";q=2;qu="concurrent-requests"',
    )
    // One of two open requests is closer to its limit than any count of 60 a minute left.
    expect(response.headers.get('ratelimit')).toBe('"open-requests";r=1')
  })

  it('mints a key with the CLI, admits it, and refuses it after keys revoke', async () => {
    const token = devVar('GATEWAY_ADMIN_TOKEN')
    expect(token).toBeTruthy()
    const cliEnv = { ...process.env, GATEWAY_ADMIN_TOKEN: token }
    const minted = await run(
      process.execPath,
      ['src/cli/main.ts', 'keys', 'mint', '--gateway', gateway, '--name', 'e2e-deploy', '--packs', 'echo'],
      { env: cliEnv },
    )
    const key = minted.stdout.trim()
    expect(key).toMatch(/^igw_/)
    const keyId = key.slice(4, 12)
    expect((await fetch(`${gateway}/packs/echo/x`, { headers: { 'x-api-key': key } })).status).toBe(200)
    expect((await fetch(`${gateway}/packs/public/x`, { headers: { 'x-api-key': key } })).status).toBe(401)
    const listed = await run(process.execPath, ['src/cli/main.ts', 'keys', 'list', '--gateway', gateway], {
      env: cliEnv,
    })
    expect(listed.stdout).toMatch(
      new RegExp(`^${keyId}\\s+e2e-deploy\\s+echo\\s+\\d{4}-\\d\\d-\\d\\d\\s+-\\s+active$`, 'm'),
    )
    await run(process.execPath, ['src/cli/main.ts', 'keys', 'revoke', keyId, '--gateway', gateway], { env: cliEnv })
    expect((await fetch(`${gateway}/packs/echo/x`, { headers: { 'x-api-key': key } })).status).toBe(401)
    const afterRevoke = await run(
      process.execPath,
      ['src/cli/main.ts', 'keys', 'list', '--gateway', gateway, '--json'],
      { env: cliEnv },
    )
    const entry = (JSON.parse(afterRevoke.stdout) as Array<{ key_id: string; revoked: boolean }>).find(
      (k) => k.key_id === keyId,
    )
    expect(entry?.revoked).toBe(true)
    expect(afterRevoke.stdout).not.toContain(key)
  })

  it('refuses the CLI without the admin token', async () => {
    const result = await run(
      process.execPath,
      ['src/cli/main.ts', 'keys', 'mint', '--gateway', gateway, '--name', 'x', '--packs', 'echo'],
      { env: { ...process.env, GATEWAY_ADMIN_TOKEN: 'wrong' } },
    ).catch((e: { code: number; stderr: string }) => e)
    expect('code' in result ? result.code : 0).toBe(1)
    expect(result.stderr).toContain('401')
  })
})

describe('through wrangler dev', () => {
  it('forwards a verifiable X-Invoker, never the forged one', async () => {
    const response = await fetch(`${gateway}/packs/echo/hello?x=1`, {
      headers: { 'x-api-key': ALICE, 'x-invoker': 'forged', 'x-invoker-admin': 'yes' },
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { x_invoker: string; headers: Record<string, string>; path: string }
    expect(body.x_invoker).not.toBe('forged')
    expect(body.headers['x-invoker-admin']).toBeUndefined()
    expect(body.headers['x-api-key']).toBeUndefined()
    expect(body.path).toBe('/hello?x=1')
    const { payload, protectedHeader } = await jwtVerify(
      body.x_invoker,
      createRemoteJWKSet(new URL(`${gateway}/.well-known/jwks.json`)),
      {
        issuer: 'http://127.0.0.1:8787',
        audience: 'echo',
        typ: 'invoker+jwt',
      },
    )
    expect(protectedHeader.alg).toBe('EdDSA')
    expect(payload).toMatchObject({
      sub: 'apikey:demo-alice',
      htm: 'GET',
      jti: response.headers.get('x-request-id'),
      auth: { method: 'api_key' },
    })
    for (const claim of ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'invoker', 'auth', 'htm', 'htu'])
      expect(payload).toHaveProperty(claim)
  })

  it('delivers server-sent events as the backend writes them', async () => {
    const response = await fetch(`${gateway}/packs/public/stream`)
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    const arrivals: number[] = []
    const decoder = new TextDecoder()
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk)
      for (const _ of text.matchAll(/event: tick/g)) arrivals.push(Date.now())
    }
    expect(arrivals).toHaveLength(5)
    // Five events written 500 ms apart arrive spread out, not in one piece at the end.
    expect((arrivals.at(-1) as number) - (arrivals[0] as number)).toBeGreaterThan(1500)
  })

  it('streams a 50 MB upload to the backend', async () => {
    const chunk = new Uint8Array(1024 * 1024)
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 50) controller.close()
        else controller.enqueue(chunk)
      },
    })
    const response = await fetch(`${gateway}/packs/echo/upload`, {
      method: 'POST',
      body,
      headers: { 'x-api-key': ALICE },
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(200)
    expect(((await response.json()) as { body_bytes: number }).body_bytes).toBe(50 * 1024 * 1024)
  })

  it('proxies a WebSocket after authentication, and refuses one without', async () => {
    const url = gateway.replace('http', 'ws') + '/packs/echo/ws'
    const messages = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = []
      const socket = new WebSocket(url, { headers: { 'x-api-key': ALICE } })
      socket.on('message', (data) => {
        got.push(String(data))
        if (got.length === 1) socket.send('ping')
        else {
          socket.close()
          resolve(got)
        }
      })
      socket.on('error', reject)
    })
    expect(messages).toEqual(['hello apikey:demo-alice', 'echo: ping'])
    const status = await new Promise<number>((resolve) => {
      const socket = new WebSocket(url)
      socket.on('unexpected-response', (_, res) => resolve(res.statusCode ?? 0))
      socket.on('open', () => resolve(101))
      socket.on('error', () => resolve(0))
    })
    expect(status).toBe(401)
  })

  it('answers a WebSocket upgrade with the request id and, on a limited route, the RateLimit headers', async () => {
    const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
      const socket = new WebSocket(gateway.replace('http', 'ws') + '/packs/public/ws')
      socket.on('upgrade', (response) => {
        resolve(response.headers)
        socket.terminate()
      })
      socket.on('unexpected-response', (_, response) => reject(new Error(`status ${response.statusCode}`)))
      socket.on('error', reject)
    })
    expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(headers['ratelimit-policy']).toContain('"anon-ip"')
    expect(headers['ratelimit-policy']).toContain('"open-requests"')
    expect(headers['ratelimit']).toContain('"open-requests"')
  })

  async function raw(request: string | Buffer): Promise<string> {
    const url = new URL(gateway)
    return new Promise((resolve) => {
      let answer = ''
      const socket = connect(Number(url.port), '127.0.0.1', () => socket.end(request))
      socket.on('data', (d) => (answer += d.toString('latin1')))
      socket.on('close', () => resolve(answer))
      socket.on('error', () => resolve(answer))
      socket.setTimeout(10_000, () => socket.destroy())
    })
  }

  it.each([
    [
      'non-UTF-8 bytes in the path',
      Buffer.concat([
        Buffer.from('GET /packs/echo/\xff\xfe'),
        Buffer.from(' HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
      ]),
    ],
    [
      'non-UTF-8 bytes in the API key',
      Buffer.concat([
        Buffer.from('GET /packs/echo/x HTTP/1.1\r\nhost: x\r\nx-api-key: '),
        Buffer.from([0xff, 0xfe, 0x80]),
        Buffer.from('\r\nconnection: close\r\n\r\n'),
      ]),
    ],
    [
      'an oversized header',
      `GET /packs/echo/x HTTP/1.1\r\nhost: x\r\nx-api-key: ${'a'.repeat(200_000)}\r\nconnection: close\r\n\r\n`,
    ],
    ['a path trick', 'GET /packs/echo/..%2F..%2Fcrm HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'],
    ['dot segments out of a pack', 'GET /packs/public/../echo/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'],
  ])('answers %s without a 5xx or a bypass', async (_, request) => {
    const answer = await raw(request)
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)
    // Either the runtime refuses it before the Worker (connection closed or 4xx), or the gateway does.
    if (status !== 0) {
      expect(status).toBeGreaterThanOrEqual(400)
      expect(status).toBeLessThan(500)
    }
  })
})
