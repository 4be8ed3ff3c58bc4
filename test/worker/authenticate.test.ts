import { beforeAll, describe, expect, it } from 'vitest'
import { generateApiKey } from '../../src/keys/api-key-format.ts'
import { backendOrigin, gateway, mintKey, verifiedInvoker, type Echo, type Gateway, type MintedKey } from './harness.ts'

const PACKS = {
  echo: `
pack: echo
upstream: $BACKEND
match: { path_prefix: /packs/echo }
auth: [api_key]
`,
  public: `
pack: public
upstream: $BACKEND
match: { path_prefix: /packs/public }
auth: [api_key]
anonymous: allow
`,
  other: `
pack: other
upstream: $BACKEND
match: { path_prefix: /packs/other }
auth: [api_key]
`,
}

let gw: Gateway
let alice: MintedKey
let scoped: MintedKey
let expired: MintedKey
let revoked: MintedKey
let sameIdWrongSecret: string

beforeAll(async () => {
  alice = await mintKey('alice', 'invoker: { label: Alice, meta: { org: acme } }')
  scoped = await mintKey('scoped', 'packs: [other]')
  expired = await mintKey('expired', 'expires: 2020-01-01T00:00:00Z')
  revoked = await mintKey('revoked', 'revoked: true')
  // A well-formed key (valid checksum) that carries alice's key id with another secret.
  sameIdWrongSecret = generateApiKey(alice.keyId).key
  const gatewayYaml = `issuer: https://gateway.test\napi_keys:\n${alice.yaml}${scoped.yaml}${expired.yaml}${revoked.yaml}`
  gw = gateway(PACKS, gatewayYaml)
})

async function expectUnauthenticated(response: Response): Promise<Record<string, unknown>> {
  expect(response.status).toBe(401)
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  expect(response.headers.get('www-authenticate')).toContain('ApiKey realm="invoker-gateway"')
  const body = (await response.json()) as Record<string, unknown>
  expect(body).toMatchObject({
    type: 'urn:invoker-gateway:problem:unauthenticated',
    status: 401,
    title: 'Unauthorized',
  })
  expect(body['request_id']).toBe(response.headers.get('x-request-id'))
  return body
}

describe('API keys', () => {
  it.each([
    ['x-api-key', (key: string) => ({ 'x-api-key': key })],
    ['Authorization: ApiKey', (key: string) => ({ authorization: `ApiKey ${key}` })],
    ['Authorization: Bearer', (key: string) => ({ authorization: `Bearer ${key}` })],
    ['lower-case scheme', (key: string) => ({ authorization: `apikey ${key}` })],
  ])('accepts a key in %s and signs the invoker for the backend', async (_, headers) => {
    const response = await gw.fetch('/packs/echo/hello?q=1', { headers: headers(alice.key) })
    expect(response.status).toBe(200)
    const echo = (await response.json()) as Echo
    expect(echo.path).toBe('/hello?q=1')
    const { payload, protectedHeader } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'echo')
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'invoker+jwt', kid: 'test-EdDSA' })
    expect(payload).toMatchObject({
      iss: 'https://gateway.test',
      aud: 'echo',
      sub: 'apikey:alice',
      jti: response.headers.get('x-request-id'),
      invoker: { id: 'apikey:alice', kind: 'apiKey', label: 'Alice', meta: { org: 'acme' } },
      auth: { method: 'api_key', api_key: 'alice' },
      htm: 'GET',
      htu: `${backendOrigin()}/hello`,
    })
    expect((payload.exp as number) - (payload.iat as number)).toBe(60)
    // The consumed credential never reaches the backend.
    expect(echo.headers['x-api-key']).toBeUndefined()
    expect(echo.headers['authorization']).toBeUndefined()
    expect(JSON.stringify(echo)).not.toContain(alice.key)
  })

  it('refuses a request without a key, with a challenge', async () => {
    const body = await expectUnauthenticated(await gw.fetch('/packs/echo/hello'))
    expect(body['detail']).toBe('This pack requires authentication.')
  })

  it.each([
    ['random text', () => 'not-a-key'],
    ['a bad checksum', () => alice.key.slice(0, -1) + (alice.key.endsWith('A') ? 'B' : 'A')],
    ['an unknown key id', () => 'igw_AAAAAAAA_' + alice.key.slice(13)],
    ['a valid checksum on the wrong secret', () => sameIdWrongSecret],
    ['an expired key', () => expired.key],
    ['a revoked key', () => revoked.key],
    ['a key scoped to another pack', () => scoped.key],
    ['an empty header', () => ''],
  ])('refuses %s with 401, and never falls back to anonymous', async (_, key) => {
    for (const path of ['/packs/echo/x', '/packs/public/x']) {
      const body = await expectUnauthenticated(await gw.fetch(path, { headers: { 'x-api-key': key() } }))
      expect(JSON.stringify(body)).not.toContain(alice.key)
    }
  })

  it('tells an expired or revoked key apart, and says nothing else about bad keys', async () => {
    expect(
      (await expectUnauthenticated(await gw.fetch('/packs/echo/x', { headers: { 'x-api-key': expired.key } })))[
        'detail'
      ],
    ).toBe('The API key has expired.')
    expect(
      (await expectUnauthenticated(await gw.fetch('/packs/echo/x', { headers: { 'x-api-key': revoked.key } })))[
        'detail'
      ],
    ).toBe('The API key has been revoked.')
    const unknown = await expectUnauthenticated(
      await gw.fetch('/packs/echo/x', { headers: { 'x-api-key': sameIdWrongSecret } }),
    )
    const scopedAnswer = await expectUnauthenticated(
      await gw.fetch('/packs/echo/x', { headers: { 'x-api-key': scoped.key } }),
    )
    expect(unknown['detail']).toBe(scopedAnswer['detail'])
  })

  it('accepts a scoped key on its own pack', async () => {
    expect((await gw.fetch('/packs/other/x', { headers: { 'x-api-key': scoped.key } })).status).toBe(200)
  })

  it('refuses two credentials at once', async () => {
    const response = await gw.fetch('/packs/echo/x', {
      headers: { 'x-api-key': alice.key, authorization: `ApiKey ${alice.key}` },
    })
    await expectUnauthenticated(response)
  })
})

describe('tokens in the Bearer slot that are not API keys', () => {
  const b64 = (value: unknown): string =>
    btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  const claims = b64({ sub: 'admin', iss: 'https://gateway.test', aud: 'echo', exp: 9999999999 })
  it.each([
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${claims}.`],
    ['HS256 with a public key as secret', `${b64({ alg: 'HS256', typ: 'JWT' })}.${claims}.c2lnbmF0dXJl`],
    ['garbage', 'abc.def'],
  ])('refuses %s with 401, also where anonymous callers are allowed', async (_, token) => {
    for (const path of ['/packs/echo/x', '/packs/public/x']) {
      await expectUnauthenticated(await gw.fetch(path, { headers: { authorization: `Bearer ${token}` } }))
    }
  })

  it('refuses an unknown Authorization scheme', async () => {
    await expectUnauthenticated(
      await gw.fetch('/packs/public/x', { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } }),
    )
  })

  it('refuses an oversized credential with 401, not 500', async () => {
    await expectUnauthenticated(
      await gw.fetch('/packs/public/x', { headers: { authorization: `Bearer ${'a'.repeat(100_000)}` } }),
    )
    await expectUnauthenticated(
      await gw.fetch('/packs/public/x', { headers: { 'x-api-key': 'igw_' + 'a'.repeat(100_000) } }),
    )
  })
})

describe('anonymous callers', () => {
  it('get an id specific to their address, stable across requests', async () => {
    const idOf = async (ip: string): Promise<string> => {
      const echo = (await (await gw.fetch('/packs/public/x', { ip })).json()) as Echo
      const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'public')
      expect(payload['auth']).toEqual({ method: 'anonymous' })
      expect(payload['invoker']).toMatchObject({ kind: 'anonymous', meta: {} })
      return payload.sub as string
    }
    const a = await idOf('198.51.100.1')
    const b = await idOf('198.51.100.2')
    expect(a).toMatch(/^anon:[A-Za-z0-9_-]{22}$/)
    expect(b).toMatch(/^anon:/)
    expect(a).not.toBe(b)
    expect(await idOf('198.51.100.1')).toBe(a)
    // The address itself is not the id.
    expect(a).not.toContain('198.51.100.1')
  })

  it('are refused when the pack denies them', async () => {
    await expectUnauthenticated(await gw.fetch('/packs/echo/x'))
  })

  it('are refused, never given a shared identity, when the caller has no address', async () => {
    await expectUnauthenticated(await gw.fetch('/packs/public/x', { ip: null }))
  })
})
