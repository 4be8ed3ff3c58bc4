/**
 * Issue 12, item 17: fields that make a backend act on another URL, method or client address
 * than the gateway decided on never reach the (real) backend; a pack may list the
 * method-override fields its backend honours, and then rules, agent lists and rate limits see
 * the overridden method.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { gateway, mintKey, type Echo, type Gateway, type MintedKey } from './harness.ts'

const guarded = (id: string, extra = ''): string => `
pack: ${id}
upstream: $BACKEND
match: { path_prefix: /packs/${id} }
auth: [api_key]
deny:
  - { method: DELETE }
agents:
  Admin:
    path: /agents/Admin/**
    allow: [{ method: GET }]
${extra}`

const OVERRIDE_PACK = guarded(
  'override',
  `method_override: [X-HTTP-Method-Override, x-method-override]
rate_limits:
  - { id: puts, by: invoker, limit: 1, window: 1m, when: { method: PUT } }`,
)

let plain: Gateway
let alice: MintedKey
let withOverride: Gateway | null = null

beforeAll(async () => {
  alice = await mintKey('alice')
  plain = gateway({ plain: guarded('plain') }, `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`)
})

/** Plain packs go to a gateway without the allowance; the pack with it is built when first asked for. */
function call(path: string, method: string, headers: Record<string, string> = {}): Promise<Response> {
  const init = { method, headers: { 'x-api-key': alice.key, ...headers } }
  if (path.startsWith('/packs/plain/')) return plain.fetch(path, init)
  withOverride ??= gateway(
    { override: OVERRIDE_PACK },
    `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`,
    undefined,
    { GATEWAY_STORE: env.GATEWAY_STORE },
  )
  return withOverride.fetch(path, init)
}

async function echoOf(response: Response): Promise<Echo> {
  expect(response.status).toBe(200)
  return (await response.json()) as Echo
}

const REWRITING = {
  'x-original-url': '/agents/Admin/delete-all',
  'x-rewrite-url': '/agents/Admin/delete-all',
  'x-original-uri': '/agents/Admin/delete-all',
  'x-forwarded-uri': '/agents/Admin/delete-all',
  'x-forwarded-prefix': '/agents/Admin',
  'x-forwarded-port': '8443',
  'x-forwarded-scheme': 'http',
  'x-original-host': 'admin.internal',
  'x-host': 'admin.internal',
}
const OVERRIDES = { 'x-http-method-override': 'DELETE', 'x-http-method': 'DELETE', 'x-method-override': 'DELETE' }
const ADDRESSES = {
  'true-client-ip': '10.0.0.1',
  'x-client-ip': '10.0.0.1',
  'x-cluster-client-ip': '10.0.0.1',
  'fastly-client-ip': '10.0.0.1',
  'x-originating-ip': '10.0.0.1',
  'x-remote-ip': '10.0.0.1',
  'x-remote-addr': '10.0.0.1',
  'client-ip': '10.0.0.1',
}

describe('request-rewriting and client-address fields', () => {
  it('item 17: request-rewriting, method-override and client-address fields never reach the backend', async () => {
    const echo = await echoOf(await call('/packs/plain/x', 'POST', { ...REWRITING, ...OVERRIDES, ...ADDRESSES }))
    for (const name of [
      ...Object.keys(REWRITING),
      ...Object.keys(OVERRIDES),
      ...Object.keys(ADDRESSES),
      'cf-connecting-ip',
    ]) {
      expect(echo.headers[name], name).toBeUndefined()
    }
    // The one client address the backend gets is the one the gateway saw.
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(echo).toMatchObject({ method: 'POST', path: '/x' })
  })

  it('item 17: without the allowance, rules see the request method (the override is gone, not obeyed)', async () => {
    const echo = await echoOf(await call('/packs/plain/agents/Admin/x', 'GET', { 'x-http-method-override': 'DELETE' }))
    expect(echo.headers['x-http-method-override']).toBeUndefined()
  })

  it("item 17: with the pack's allowance, a method rule applies to the overridden method", async () => {
    const denied = await call('/packs/override/x', 'POST', { 'x-http-method-override': 'delete' })
    expect(denied.status).toBe(403)
    expect(((await denied.json()) as { detail: string }).detail).toBe("Denied by the pack's deny list.")
    // An agent list that admits GET only admits a POST that overrides to GET, and forwards the override.
    const echo = await echoOf(await call('/packs/override/agents/Admin/x', 'POST', { 'x-http-method-override': 'get' }))
    expect(echo.headers['x-http-method-override']).toBe('GET')
    expect((await call('/packs/override/agents/Admin/x', 'POST')).status).toBe(403)
    // A field the pack does not list is dropped, not obeyed.
    const other = await echoOf(await call('/packs/override/x', 'POST', { 'x-http-method': 'DELETE' }))
    expect(other.headers['x-http-method']).toBeUndefined()
  })

  it('item 17: with the allowance, a rate limit for a method counts requests overridden to it', async () => {
    expect((await call('/packs/override/x', 'POST', { 'x-method-override': 'PUT' })).status).toBe(200)
    expect((await call('/packs/override/x', 'POST', { 'x-method-override': 'PUT' })).status).toBe(429)
    expect((await call('/packs/override/x', 'POST')).status).toBe(200)
  })

  it('item 17: an override is honoured on POST only; elsewhere it is dropped and the request method decides', async () => {
    const echo = await echoOf(await call('/packs/override/x', 'PATCH', { 'x-http-method-override': 'DELETE' }))
    expect(echo.method).toBe('PATCH')
    expect(echo.headers['x-http-method-override']).toBeUndefined()
  })

  it('item 17: an override that names no method, or two that disagree, is refused with 400', async () => {
    const cases: Record<string, string>[] = [
      { 'x-http-method-override': 'DELETE, GET' },
      { 'x-http-method-override': '' },
      { 'x-http-method-override': 'GET', 'x-method-override': 'DELETE' },
    ]
    for (const headers of cases) {
      const response = await call('/packs/override/x', 'POST', headers)
      expect(response.status, JSON.stringify(headers)).toBe(400)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
    }
  })

  it('an override naming TRACE, TRACK or CONNECT is refused with 400, as the audit asked (a backend would echo X-Invoker)', async () => {
    for (const method of ['TRACE', 'track', 'CONNECT']) {
      const response = await call('/packs/override/x', 'POST', { 'x-http-method-override': method })
      expect(response.status, method).toBe(400)
      expect(((await response.json()) as { detail: string }).detail).toContain(`may not name ${method.toUpperCase()}`)
    }
  })
})
