/**
 * The JS verifier package (sources) beyond the conformance vectors: its options, the remote JWKS
 * cache (refetch on an unknown kid, cooldown, unreachable keys), the replay cache's bounds, and
 * the Express and Hono adapters on real Express and Hono apps.
 */
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { Hono } from 'hono'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireInvoker as expressInvoker } from '../../packages/verifier/src/express.ts'
import { requireInvoker as honoInvoker } from '../../packages/verifier/src/hono.ts'
import {
  createInvokerVerifier,
  InvokerVerificationError,
  MemoryReplayCache,
  verifyInvoker,
  type ReasonCode,
} from '../../packages/verifier/src/index.ts'

const ISSUER = 'https://gw.test'
const servers: Server[] = []
afterAll(() => {
  for (const s of servers) s.close()
})

async function listen(server: Server): Promise<string> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

interface Key {
  privateKey: CryptoKey
  jwk: JWK
}

async function key(kid: string): Promise<Key> {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'EdDSA', use: 'sig' } }
}

function token(k: Key, url: string, over: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: ISSUER,
    aud: 'crm',
    sub: 'apikey:ci',
    iat: now,
    exp: now + 60,
    jti: crypto.randomUUID(),
    invoker: { id: 'apikey:ci', kind: 'apiKey', meta: {} },
    auth: { method: 'api_key', api_key: 'ci' },
    htm: 'GET',
    htu: url,
    ...over,
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: k.jwk.kid as string, typ: 'invoker+jwt' })
    .sign(k.privateKey)
}

async function reason(promise: Promise<unknown>): Promise<ReasonCode | 'ok'> {
  try {
    await promise
    return 'ok'
  } catch (error) {
    if (error instanceof InvokerVerificationError) return error.reason
    throw error
  }
}

const get = (url: string, value: string): { method: string; url: string; headers: Headers } => ({
  method: 'GET',
  url,
  headers: new Headers({ 'x-invoker': value }),
})

describe('options are checked once, at construction', () => {
  const jwks = { keys: [] }
  it.each([
    ['no key source', { issuer: ISSUER, audience: 'crm' }],
    ['two key sources', { issuer: ISSUER, audience: 'crm', jwks, jwksUrl: 'https://gw.test/jwks' }],
    ['no issuer', { issuer: '', audience: 'crm', jwks }],
    ['no audience', { issuer: ISSUER, audience: [], jwks }],
    [
      'HS256 with a JWK set (a public set must not hold a shared secret)',
      { issuer: ISSUER, audience: 'crm', jwks, algorithms: ['HS256'] },
    ],
    ['EdDSA with a secret', { issuer: ISSUER, audience: 'crm', secret: new Uint8Array(32), algorithms: ['EdDSA'] }],
    ['a short secret', { issuer: ISSUER, audience: 'crm', secret: new Uint8Array(16) }],
    ['a negative clock tolerance', { issuer: ISSUER, audience: 'crm', jwks, clockToleranceSeconds: -1 }],
    ['an unknown algorithm', { issuer: ISSUER, audience: 'crm', jwks, algorithms: ['RS256'] }],
  ])('%s throws a TypeError', (_, options) => {
    expect(() => createInvokerVerifier(options as never)).toThrow(TypeError)
  })
})

describe('remote JWKS', () => {
  let current: Key
  let next: Key
  let published: JWK[]
  let fetches = 0
  let origin: string

  beforeAll(async () => {
    current = await key('k1')
    next = await key('k2')
    published = [current.jwk]
    origin = await listen(
      createServer((req, res) => {
        fetches++
        if (req.url === '/down') {
          res.writeHead(500).end()
          return
        }
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ keys: published }))
      }),
    )
  })

  it('is fetched once, refetched for an unknown kid, at most once per cooldown', async () => {
    const url = `${origin}/backend/run`
    const verifier = createInvokerVerifier({
      jwksUrl: `${origin}/jwks`,
      issuer: ISSUER,
      audience: 'crm',
      jwksCache: { cooldownMs: 60_000 },
    })
    fetches = 0
    expect(await reason(verifier.verify(get(url, await token(current, url))))).toBe('ok')
    expect(await reason(verifier.verify(get(url, await token(current, url))))).toBe('ok')
    expect(fetches).toBe(1)
    // A token under a kid that is not published yet: within the cooldown, no refetch.
    published = [current.jwk, next.jwk]
    expect(await reason(verifier.verify(get(url, await token(next, url))))).toBe('key_unknown')
    expect(fetches).toBe(1)
  })

  it('refetches for an unknown kid once the cooldown has passed (rotation)', async () => {
    const url = `${origin}/backend/run`
    published = [current.jwk]
    const verifier = createInvokerVerifier({
      jwksUrl: `${origin}/jwks?rotation`,
      issuer: ISSUER,
      audience: 'crm',
      jwksCache: { cooldownMs: 0 },
    })
    expect(await reason(verifier.verify(get(url, await token(current, url))))).toBe('ok')
    published = [next.jwk, current.jwk]
    fetches = 0
    expect(await reason(verifier.verify(get(url, await token(next, url))))).toBe('ok')
    expect(fetches).toBe(1)
    const stranger = await key('k9')
    expect(await reason(verifier.verify(get(url, await token(stranger, url))))).toBe('key_unknown')
  })

  it('answers keys_unavailable (status 503) when the JWKS cannot be fetched', async () => {
    const url = `${origin}/backend/run`
    const error = await verifyInvoker(get(url, await token(current, url)), {
      jwksUrl: `${origin}/down`,
      issuer: ISSUER,
      audience: 'crm',
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvokerVerificationError)
    expect((error as InvokerVerificationError).reason).toBe('keys_unavailable')
    expect((error as InvokerVerificationError).status).toBe(503)
    const closed = await listen(createServer())
    servers.pop()?.close()
    expect(
      await reason(
        verifyInvoker(get(url, await token(current, url)), {
          jwksUrl: `${closed}/jwks`,
          issuer: ISSUER,
          audience: 'crm',
        }),
      ),
    ).toBe('keys_unavailable')
  })

  it('verifyInvoker() with a fresh options object per call still fetches once per URL', async () => {
    const url = `${origin}/backend/run`
    published = [current.jwk]
    fetches = 0
    for (let i = 0; i < 3; i++) {
      expect(
        await reason(
          verifyInvoker(get(url, await token(current, url)), {
            jwksUrl: `${origin}/jwks?once`,
            issuer: ISSUER,
            audience: 'crm',
          }),
        ),
      ).toBe('ok')
    }
    expect(fetches).toBe(1)
  })

  it('messages never carry the token', async () => {
    const url = `${origin}/backend/run`
    const value = await token(current, url, { aud: 'echo' })
    const error = (await verifyInvoker(get(url, value), {
      jwksUrl: `${origin}/jwks`,
      issuer: ISSUER,
      audience: 'crm',
    }).catch((e: unknown) => e)) as Error
    expect(error.message).not.toContain(value.split('.')[1])
    expect(JSON.stringify(error)).not.toContain(value.split('.')[1])
  })
})

describe('MemoryReplayCache', () => {
  it('refuses a second use until the id expires, then forgets it', () => {
    let now = 1000
    const cache = new MemoryReplayCache({ now: () => now })
    expect(cache.firstUse('a', 1065)).toBe(true)
    expect(cache.firstUse('a', 1065)).toBe(false)
    now = 1065
    expect(cache.firstUse('b', 1130)).toBe(true)
    expect(cache.size).toBe(1)
  })

  it('holds at most maxEntries, dropping the oldest', () => {
    const cache = new MemoryReplayCache({ maxEntries: 3, now: () => 0 })
    for (const id of ['a', 'b', 'c', 'd']) expect(cache.firstUse(id, 60)).toBe(true)
    expect(cache.size).toBe(3)
    expect(cache.firstUse('d', 60)).toBe(false)
    expect(cache.firstUse('a', 60)).toBe(true)
  })

  it('only takes tokens that passed every other check (a forgery cannot burn an id)', async () => {
    const k = await key('k1')
    const url = 'http://b.test/run'
    const cache = new MemoryReplayCache()
    const verifier = createInvokerVerifier({
      jwks: { keys: [k.jwk] },
      issuer: ISSUER,
      audience: 'crm',
      replayCache: cache,
    })
    const forged = await token(await key('k1'), url, { jti: 'fixed' })
    expect(await reason(verifier.verify(get(url, forged)))).toBe('signature')
    expect(await reason(verifier.verify(get('http://b.test/other', await token(k, url, { jti: 'fixed' }))))).toBe(
      'wrong_request',
    )
    expect(cache.size).toBe(0)
    const real = await token(k, url, { jti: 'fixed' })
    expect(await reason(verifier.verify(get(url, real)))).toBe('ok')
    expect(await reason(verifier.verify(get(url, real)))).toBe('replayed')
  })
})

describe('adapters', () => {
  let k: Key
  beforeAll(async () => {
    k = await key('k1')
  })

  it('Express: puts the result on req.xInvoker, answers 401 problem+json with the reason', async () => {
    const app = express()
    app.use(
      expressInvoker({
        jwks: { keys: [k.jwk] },
        issuer: ISSUER,
        audience: 'crm',
        replayCache: new MemoryReplayCache(),
      }),
    )
    app.get('/run', (req, res) => {
      res.json({ id: req.xInvoker?.invoker.id, method: req.xInvoker?.auth.method })
    })
    const origin = await listen(createServer(app))
    const value = await token(k, `${origin}/run`)
    const accepted = await fetch(`${origin}/run?x=1`, { headers: { 'x-invoker': value } })
    expect(accepted.status).toBe(200)
    expect(await accepted.json()).toEqual({ id: 'apikey:ci', method: 'api_key' })
    const replayed = await fetch(`${origin}/run`, { headers: { 'x-invoker': value } })
    expect(replayed.status).toBe(401)
    expect(replayed.headers.get('content-type')).toBe('application/problem+json')
    expect(await replayed.json()).toMatchObject({ reason: 'replayed', status: 401 })
    const missing = await fetch(`${origin}/run`)
    expect(await missing.json()).toMatchObject({ reason: 'missing' })
    const other = await fetch(`${origin}/elsewhere`, { headers: { 'x-invoker': await token(k, `${origin}/run`) } })
    expect(await other.json()).toMatchObject({ reason: 'wrong_request' })
  })

  it('Express: uses originalUrl inside a mounted router', async () => {
    const app = express()
    const router = express.Router()
    router.use(expressInvoker({ jwks: { keys: [k.jwk] }, issuer: ISSUER, audience: 'crm' }))
    router.get('/run', (req, res) => res.json({ id: req.xInvoker?.invoker.id }))
    app.use('/agents', router)
    const origin = await listen(createServer(app))
    const response = await fetch(`${origin}/agents/run`, {
      headers: { 'x-invoker': await token(k, `${origin}/agents/run`) },
    })
    expect(response.status).toBe(200)
  })

  // Paths the gateway never forwards (it forwards the normalised path it decided on, htu's path),
  // spelled so that a router that does not resolve dot segments sends them to /admin, or
  // elsewhere than /hello. A token bound to /hello must be wrong_request on each.
  const ADMIN_SPELLINGS = ['/admin/../hello', '/admin/%2e%2e/hello', '/admin/%2E%2E/hello', '/admin/x/%2E%2e/../hello']
  const OTHER_SPELLINGS = ['/./hello', '//hello', '/hello/', '/h%65llo', '/%68ello']

  /** One GET with the path exactly as written (fetch would resolve dot segments first). */
  const rawGet = (origin: string, path: string, value: string): Promise<{ status: number; body: unknown }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`${origin}/`, { path, headers: { 'x-invoker': value } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
      })
      req.on('error', reject)
      req.end()
    })

  it('Express: refuses every path spelling the router reads otherwise than htu', async () => {
    const app = express()
    app.use(expressInvoker({ jwks: { keys: [k.jwk] }, issuer: ISSUER, audience: 'crm' }))
    app.get('/hello', (_req, res) => res.json({ handler: 'hello' }))
    const admin = express.Router()
    admin.use((req, res) => res.json({ handler: 'admin', caller: req.xInvoker?.invoker.id }))
    app.use('/admin', admin)
    const origin = await listen(createServer(app))
    const value = await token(k, `${origin}/hello`)
    expect(await rawGet(origin, '/hello', value)).toEqual({ status: 200, body: { handler: 'hello' } })
    for (const path of [...ADMIN_SPELLINGS, ...OTHER_SPELLINGS]) {
      const { status, body } = await rawGet(origin, path, value)
      expect({ path, status, reason: (body as { reason?: string }).reason }).toEqual({
        path,
        status: 401,
        reason: 'wrong_request',
      })
    }
    // Express really does send these to /admin when the token is bound there.
    for (const path of ADMIN_SPELLINGS) {
      expect(await rawGet(origin, path, await token(k, `${origin}${path}`))).toEqual({
        status: 200,
        body: { handler: 'admin', caller: 'apikey:ci' },
      })
    }
  })

  it('Express: onError can hand the error to Express', async () => {
    const app = express()
    app.use(
      expressInvoker({
        jwks: { keys: [k.jwk] },
        issuer: ISSUER,
        audience: 'crm',
        onError: (error, _req, _res, next) => next(error),
      }),
    )
    app.use(
      (error: InvokerVerificationError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(418).send(error.reason)
      },
    )
    const origin = await listen(createServer(app))
    const response = await fetch(`${origin}/x`)
    expect(response.status).toBe(418)
    expect(await response.text()).toBe('missing')
  })

  it('Hono: sets c.var.xInvoker, answers 401 problem+json with the reason', async () => {
    const app = new Hono()
    app.use(honoInvoker({ jwks: { keys: [k.jwk] }, issuer: ISSUER, audience: 'crm' }))
    app.get('/run', (c) => c.json({ id: c.var.xInvoker.invoker.id, bodyVerified: c.var.xInvoker.bodyVerified }))
    const accepted = await app.request('http://b.test/run', {
      headers: { 'x-invoker': await token(k, 'http://b.test/run') },
    })
    expect(accepted.status).toBe(200)
    expect(await accepted.json()).toEqual({ id: 'apikey:ci', bodyVerified: true })
    const refused = await app.request('http://b.test/run', {
      headers: { 'x-invoker': await token(k, 'http://b.test/run', { iss: 'https://evil.test' }) },
    })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toMatchObject({ reason: 'issuer' })
  })
})
