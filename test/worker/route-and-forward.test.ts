import { base64url, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { backendOrigin, gateway, mintKey, type Echo, type Gateway, type MintedKey } from './harness.ts'

const PACKS = {
  echo: `
pack: echo
upstream: $BACKEND
match: { path_prefix: /packs/echo }
auth: [api_key]
`,
  crm: `
pack: crm
upstream: $BACKEND/base
match: { path_prefix: /packs/crm }
auth: [api_key]
allow:
  - { api_key: [alice, bob] }
deny:
  - { api_key: carol }
agents:
  InternalCRMQuery:
    path: /agents/InternalCRMQuery/**
    allow: [{ api_key: alice }]
`,
  whole: `
pack: whole
upstream: $BACKEND
match: { host: whole.test, path_prefix: /keep }
strip_prefix: false
auth: [api_key]
`,
  audit: `
pack: audit
upstream: $BACKEND
match: { path_prefix: /packs/audit }
auth: [api_key]
mode: report
allow: [{ api_key: alice }]
`,
  down: `
pack: down
upstream: http://127.0.0.1:9
match: { path_prefix: /packs/down }
auth: [api_key]
`,
}

let gw: Gateway
let alice: MintedKey
let bob: MintedKey
let carol: MintedKey
const as = (key: MintedKey, extra: Record<string, string> = {}): RequestInit => ({
  headers: { 'x-api-key': key.key, ...extra },
})

beforeAll(async () => {
  alice = await mintKey('alice')
  bob = await mintKey('bob')
  carol = await mintKey('carol')
  gw = gateway(
    PACKS,
    `issuer: https://gateway.test\nupstream_timeout: 300ms\napi_keys:\n${alice.yaml}${bob.yaml}${carol.yaml}`,
  )
})

afterEach(() => vi.restoreAllMocks())

async function echoOf(response: Response): Promise<Echo> {
  expect(response.status).toBe(200)
  return (await response.json()) as Echo
}

describe('routing', () => {
  it('strips the prefix, keeps the query, and joins the upstream base path', async () => {
    expect((await echoOf(await gw.fetch('/packs/echo/a/b?x=1&y=%2F', as(alice)))).path).toBe('/a/b?x=1&y=%2F')
    expect((await echoOf(await gw.fetch('/packs/echo', as(alice)))).path).toBe('/')
    expect((await echoOf(await gw.fetch('/packs/crm/accounts', as(bob)))).path).toBe('/base/accounts')
  })

  it('keeps the prefix when the pack says so, and matches the host', async () => {
    expect((await echoOf(await gw.fetch('https://whole.test/keep/x', as(alice)))).path).toBe('/keep/x')
    expect((await gw.fetch('https://other.test/keep/x', as(alice))).status).toBe(404)
  })

  it('sends the backend exactly the normalized path it matched', async () => {
    expect((await echoOf(await gw.fetch('/packs/echo/a/./b/../c', as(alice)))).path).toBe('/a/c')
    expect((await echoOf(await gw.fetch('https://gw.test//packs//echo///c', as(alice)))).path).toBe('/c')
    expect((await echoOf(await gw.fetch('/packs/echo/%7euser', as(alice)))).path).toBe('/~user')
  })

  it('cannot be walked out of a pack into another with dot segments', async () => {
    // The normalized path is /packs/crm/accounts: routed to crm, where carol is denied.
    const response = await gw.fetch('/packs/echo/%2e%2e/crm/accounts', as(carol))
    expect(response.status).toBe(403)
  })

  it.each([
    ['/packs/echo/a%2Fb', 'encoded slash'],
    ['/packs/echo/a%5Cb', 'encoded backslash'],
    ['/packs/echo/a%00b', 'NUL'],
    ['/packs/echo/..;/crm', 'dot-dot with parameters'],
  ])('refuses %s (%s) with 400', async (path) => {
    const response = await gw.fetch(path, as(alice))
    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toBe('application/problem+json')
  })

  it('answers an unknown route with a 404 problem, before asking for credentials', async () => {
    for (const path of ['/nothing', '/PACKS/echo/x', '/packs/echoes']) {
      const response = await gw.fetch(path)
      expect(response.status).toBe(404)
      expect(await response.json()).toMatchObject({ status: 404, type: 'urn:invoker-gateway:problem:not-found' })
    }
  })
})

describe('authorization', () => {
  it("applies the pack's allow and deny lists", async () => {
    expect((await gw.fetch('/packs/crm/accounts', as(bob))).status).toBe(200)
    const denied = await gw.fetch('/packs/crm/accounts', as(carol))
    expect(denied.status).toBe(403)
    const body = (await denied.json()) as Record<string, unknown>
    expect(body).toMatchObject({ status: 403, detail: "Denied by the pack's deny list." })
    expect(JSON.stringify(body)).not.toContain('carol')
  })

  it("narrows with the agent's list, whatever the path's spelling", async () => {
    expect((await gw.fetch('/packs/crm/agents/InternalCRMQuery/run', as(alice, {}))).status).toBe(200)
    for (const path of [
      '/packs/crm/agents/InternalCRMQuery/run',
      '/packs/crm/agents/internalcrmquery/run',
      '/packs/crm/agents/x/../InternalCRMQuery/run',
      '/packs/crm/agents/%49nternalCRMQuery/run',
      'https://gw.test/packs/crm//agents//InternalCRMQuery',
    ]) {
      const response = await gw.fetch(path, as(bob))
      expect(response.status, path).toBe(403)
      expect(((await response.json()) as { detail: string }).detail).toBe(
        'The invoker is not on the allow list of agent InternalCRMQuery.',
      )
    }
  })

  it('forwards in report mode and logs the would-be denial', async () => {
    const log = vi.spyOn(console, 'log')
    expect((await gw.fetch('/packs/audit/x', as(bob))).status).toBe(200)
    const line = JSON.parse(log.mock.calls.at(-1)?.[0] as string) as Record<string, unknown>
    expect(line).toMatchObject({
      pack: 'audit',
      decision: 'would_deny',
      reason: 'denied',
      status: 200,
      invoker_id: 'apikey:bob',
    })
  })
})

describe('forwarding', () => {
  it('replaces a forged X-Invoker and drops X-Invoker-* and client forwarding headers', async () => {
    const echo = await echoOf(
      await gw.fetch(
        '/packs/echo/x',
        as(alice, {
          'x-invoker': 'forged',
          'x-invoker-user': 'admin',
          'x-forwarded-for': '10.1.1.1',
          'x-request-id': 'mine',
        }),
      ),
    )
    expect(echo.headers['x-invoker']).not.toBe('forged')
    expect(echo.headers['x-invoker']?.split('.')).toHaveLength(3)
    expect(echo.headers['x-invoker-user']).toBeUndefined()
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(echo.headers['x-forwarded-proto']).toBe('https')
    expect(echo.headers['x-forwarded-host']).toBe('gw.test')
    expect(echo.headers['x-request-id']).not.toBe('mine')
  })

  it('echoes the request id to the client and keeps every Set-Cookie', async () => {
    const response = await gw.fetch('/packs/echo/x', as(alice))
    const echo = (await response.clone().json()) as Echo
    expect(response.headers.get('x-request-id')).toBe(echo.headers['x-request-id'])
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/'])
  })

  it('forwards method and body', async () => {
    const echo = await echoOf(await gw.fetch('/packs/echo/x', { method: 'PUT', body: 'x'.repeat(1000), ...as(alice) }))
    expect(echo).toMatchObject({ method: 'PUT', body_bytes: 1000 })
  })

  it('answers 502 when the backend cannot be reached and 504 when it is too slow', async () => {
    const down = await gw.fetch('/packs/down/x', as(alice))
    expect(down.status).toBe(502)
    expect(await down.json()).toMatchObject({ status: 502, detail: 'The backend could not be reached.' })
    const slow = await gw.fetch('/packs/echo/slow?ms=2000', as(alice))
    expect(slow.status).toBe(504)
    expect(await slow.json()).toMatchObject({ status: 504 })
  })

  it('does not cut an answer that streams longer than upstream_timeout (the bound ends with the headers)', async () => {
    // upstream_timeout is 300 ms here: read ticks for over three times that.
    const response = await gw.fetch('/packs/echo/sse-ticks?ms=50', as(alice))
    expect(response.status).toBe(200)
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    const started = Date.now()
    let text = ''
    while (Date.now() - started < 1_000) {
      const chunk = await reader.read()
      expect(chunk.done).toBe(false)
      text += chunk.value
    }
    await reader.cancel()
    expect(text.match(/^data: /gm)?.length ?? 0).toBeGreaterThanOrEqual(5)
  })

  it('streams a server-sent event stream event by event', async () => {
    const name = `sse-${crypto.randomUUID()}`
    const response = await gw.fetch(`/packs/echo/sse-lockstep?name=${name}`, as(alice))
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    while (!text.includes('data: first')) text += (await reader.read()).value ?? ''
    // The backend holds the second event until we saw the first: buffering would deadlock here.
    expect(text).not.toContain('second')
    await fetch(`${backendOrigin()}/_control/signal?name=${name}`)
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value
    expect(text).toContain('data: second')
  })

  it('streams a request body to the backend as it is sent', async () => {
    const signalSeen = async (): Promise<boolean> =>
      (await (await fetch(`${backendOrigin()}/_control/seen?name=upload-started`)).text()) === 'true'
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 1) {
          // Hold the rest until the backend has the first chunk: a buffering gateway never delivers it.
          for (let i = 0; i < 100 && !(await signalSeen()); i++) await new Promise((r) => setTimeout(r, 50))
          if (!(await signalSeen())) controller.error(new Error('the first chunk never reached the backend'))
        }
        if (sent === 20) return controller.close()
        controller.enqueue(new Uint8Array(64 * 1024))
        sent++
      },
    })
    const response = await gw.fetch('/packs/echo/upload', { method: 'POST', body, ...as(alice) })
    expect((await echoOf(response)).body_bytes).toBe(20 * 64 * 1024)
  })
})

describe('errors and configuration', () => {
  it('publishes only public keys', async () => {
    const response = await gw.fetch('/.well-known/jwks.json')
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] }
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: 'test-EdDSA', use: 'sig' })
    expect(keys[0]).not.toHaveProperty('d')
    expect(response.headers.get('cache-control')).toContain('max-age')
  })

  it('signs X-Invoker with each supported algorithm: EdDSA, ES256 and HS256 (a shared secret, never published)', async () => {
    const secret = crypto.getRandomValues(new Uint8Array(32))
    const es256 = await generateKeyPair('ES256', { extractable: true })
    const cases = [
      {
        alg: 'ES256',
        jwk: { ...(await exportJWK(es256.privateKey)), alg: 'ES256', kid: 'es' },
        verifyWith: es256.publicKey,
        published: 1,
      },
      {
        alg: 'HS256',
        jwk: { kty: 'oct', k: base64url.encode(secret), alg: 'HS256', kid: 'hs' },
        verifyWith: secret,
        published: 0,
      },
    ]
    for (const { alg, jwk, verifyWith, published } of cases) {
      const signed = gateway(
        { echo: PACKS.echo },
        `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`,
        JSON.stringify({ keys: [jwk] }),
      )
      // Twice: the second request signs with the key imported by the first.
      for (let i = 0; i < 2; i++) {
        const token = (await echoOf(await signed.fetch('/packs/echo/x', as(alice)))).headers['x-invoker'] as string
        const { protectedHeader } = await jwtVerify(token, verifyWith, {
          issuer: 'https://gateway.test',
          audience: 'echo',
          typ: 'invoker+jwt',
          algorithms: [alg],
        })
        expect(protectedHeader).toMatchObject({ alg, kid: jwk.kid })
      }
      const { keys } = (await (await signed.fetch('/.well-known/jwks.json')).json()) as {
        keys: Record<string, unknown>[]
      }
      expect(keys).toHaveLength(published)
      expect(JSON.stringify(keys)).not.toContain(base64url.encode(secret))
    }
  })

  it('answers 503, not 500, without a usable signing key, and leaks nothing of it', async () => {
    for (const secret of [
      null,
      'not json',
      '{"keys":[]}',
      '{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"RS256","kid":"x"}]}',
      // Red-team pass 7: an HS256 key shorter than 32 bytes (RFC 7518 §3.2) is no usable key.
      '{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256","kid":"x"}]}',
    ]) {
      const broken = gateway(
        PACKS,
        `issuer: https://gateway.test\napi_keys:\n${alice.yaml}${bob.yaml}${carol.yaml}`,
        secret,
      )
      const response = await broken.fetch('/packs/echo/x', as(alice))
      expect(response.status).toBe(503)
      expect(await response.text()).not.toContain('c2VjcmV0')
    }
  })

  it('writes one log line per request, without the key', async () => {
    const log = vi.spyOn(console, 'log')
    await gw.fetch('/packs/crm/agents/InternalCRMQuery/run?token=abc', as(bob))
    expect(log).toHaveBeenCalledTimes(1)
    const text = log.mock.calls[0]?.[0] as string
    expect(text).not.toContain(bob.key)
    expect(text).not.toContain('token=abc')
    expect(JSON.parse(text)).toMatchObject({
      method: 'GET',
      path: '/packs/crm/agents/InternalCRMQuery/run',
      pack: 'crm',
      agent: 'InternalCRMQuery',
      invoker_id: 'apikey:bob',
      invoker_kind: 'apiKey',
      auth_method: 'api_key',
      api_key: 'bob',
      decision: 'deny',
      reason: 'denied',
      status: 403,
    })
  })

  it('never answers 500 to odd input', async () => {
    const odd: [string, RequestInit][] = [
      ['/packs/echo/%', as(alice)],
      ['/packs/echo/%ZZ', as(alice)],
      ['/packs/echo/\u00ff\u0100', as(alice)],
      ['/packs/echo/x', { headers: { 'x-api-key': '\u00ff'.repeat(10) } }],
      ['/packs/echo/x', { headers: { authorization: 'Bearer' } }],
      ['/packs/echo/x', { headers: { authorization: '   ' } }],
      ['/packs/echo/x', { method: 'OPTIONS' }],
      ['/.well-known/jwks.json', { method: 'POST' }],
    ]
    for (const [path, init] of odd) {
      const response = await gw.fetch(path, init)
      expect(response.status, path).toBeLessThan(500)
    }
  })
})

describe("the gateway's own paths are reserved on every host, in every spelling (red team 6)", () => {
  const root = gateway(
    {
      everything: `
pack: everything
upstream: $BACKEND
match: { host: root.test, path_prefix: / }
auth: [api_key]
anonymous: allow
rate_limits:
  - { id: per-ip, by: ip, limit: 1000, window: 1m }
`,
    },
    'issuer: https://gateway.test\n',
  )
  const send = (path: string, method = 'GET') =>
    root.fetch(`https://root.test${path}`, { method, headers: { 'cf-connecting-ip': '192.0.2.1' } })

  it('never hands another spelling, or another method, of a reserved path to a pack', async () => {
    expect((await send('/anything')).status).toBe(200)
    for (const [path, method] of [
      ['//.well-known/jwks.json', 'GET'],
      ['/.well-known/%6Awks.json', 'GET'],
      ['/.well-known/jwks.json', 'POST'],
      ['//.well-known/invoker-gateway/keys', 'GET'],
      ['/.well-known/invoker-gateway/keys', 'PUT'],
      ['/.well-known/invoker-gateway/other', 'GET'],
      ['/.well-known/invoker-gateway', 'GET'],
    ] as const) {
      const response = await send(path, method)
      expect([404, 405], `${method} ${path}`).toContain(response.status)
      expect(response.headers.get('content-type'), `${method} ${path}`).toBe('application/problem+json')
    }
    const jwks = await send('/.well-known/jwks.json')
    expect(jwks.status).toBe(200)
    expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0)
  })
})
