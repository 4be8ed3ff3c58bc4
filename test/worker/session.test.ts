/**
 * Browser sessions against a real Better Auth app (started by the global setup, with its own
 * in-memory database): users sign up, in and out through its HTTP API, and the gateway checks
 * their cookie at the app's get-session endpoint. Also CSRF and CORS for browser callers.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { BETTER_AUTH_COOKIE, signIn, signOut, signUp, type SignedInUser } from '../support/better-auth-client.ts'
import { backendOrigin, gateway, mintKey, verifiedInvoker, type Echo, type Gateway } from './harness.ts'

const APP = env.TEST_BETTER_AUTH_ORIGIN
const TRUSTED = 'https://app.example.com'

const PACKS = {
  app: `
pack: app
upstream: $BACKEND
match: { path_prefix: /packs/app }
auth: [session, api_key]
cors: { origins: [${TRUSTED}] }
`,
  plain: `
pack: plain
upstream: $BACKEND
match: { path_prefix: /packs/plain }
auth: [api_key]
`,
}

function gatewayYaml(endpoint = `${APP}/api/auth/get-session`, timeout = '2s'): string {
  return `
issuer: https://gateway.test
session:
  cookies: [${BETTER_AUTH_COOKIE}, __Secure-${BETTER_AUTH_COOKIE}]
  introspection:
    endpoint: ${endpoint}
    cache_ttl: 1s
    negative_ttl: 1s
    timeout: ${timeout}
    claims: { meta: { email_verified: user.emailVerified } }
`
}

let gw: Gateway
let alice: SignedInUser

beforeAll(async () => {
  gw = gateway(PACKS, gatewayYaml())
  alice = await signUp(APP, `alice-${crypto.randomUUID()}@example.com`, 'Alice')
})

const withCookie = (cookie: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), cookie },
})

describe('sessions from a real Better Auth app', () => {
  it("signs the session's user for the backend and removes the session cookie", async () => {
    const response = await gw.fetch('/packs/app/inbox', withCookie(`theme=dark; ${alice.cookie}`))
    expect(response.status).toBe(200)
    const echo = (await response.json()) as Echo
    expect(echo.headers['cookie']).toBe('theme=dark')
    const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'app')
    expect(payload).toMatchObject({
      sub: alice.id,
      invoker: { id: alice.id, kind: 'authUser', label: 'Alice', meta: { email: alice.email, email_verified: false } },
      auth: { method: 'session' },
      htu: `${backendOrigin()}/inbox`,
    })
    // Nothing of the session answer beyond the mapped fields (the session token above all) crosses over.
    expect(JSON.stringify(payload)).not.toContain(alice.cookie.split('=')[1]?.split('.')[0])
  })

  it('refuses the cookie after sign-out, once the cache TTL has passed', async () => {
    const cookie = await signIn(APP, alice.email)
    expect((await gw.fetch('/packs/app/inbox', withCookie(cookie))).status).toBe(200)
    await signOut(APP, cookie)
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const response = await gw.fetch('/packs/app/inbox', withCookie(cookie))
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe('The session is not valid; sign in again.')
  })

  it('refuses a cookie the app does not know, and a session cookie sent twice', async () => {
    expect((await gw.fetch('/packs/app/inbox', withCookie(`${BETTER_AUTH_COOKIE}=forged.value`))).status).toBe(401)
    const bob = await signUp(APP, `bob-${crypto.randomUUID()}@example.com`, 'Bob')
    // A sibling subdomain can plant a second cookie of the same name: the gateway will not guess.
    const response = await gw.fetch('/packs/app/inbox', withCookie(`${alice.cookie}; ${bob.cookie}`))
    expect(response.status).toBe(401)
    // The same in two Cookie lines, which the runtime joins with ", " (red team 2, F5).
    const lines = new Headers()
    lines.append('cookie', alice.cookie)
    lines.append('cookie', bob.cookie)
    const twoLines = await gw.fetch('/packs/app/inbox', { headers: lines })
    expect(twoLines.status).toBe(401)
    expect(((await twoLines.json()) as { detail: string }).detail).toBe(
      'More than one credential was presented; send exactly one.',
    )
  })

  it('refuses a session cookie together with an API key (one credential per request)', async () => {
    const response = await gw.fetch(
      '/packs/app/inbox',
      withCookie(alice.cookie, { headers: { 'x-api-key': 'igw_whatever' } }),
    )
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'More than one credential was presented; send exactly one.',
    )
  })

  it("never hands the session cookie to another pack's backend, nor lets a backend set it (red team 6)", async () => {
    const carol = await mintKey('carol')
    const withKey = gateway(PACKS, `${gatewayYaml()}api_keys:\n${carol.yaml}`)
    const echo = (await (
      await withKey.fetch('/packs/plain/inbox', {
        headers: { 'x-api-key': carol.key, cookie: `theme=dark; ${alice.cookie}` },
      })
    ).json()) as Echo
    expect(echo.headers['cookie']).toBe('theme=dark')
    const planted = await withKey.fetch(
      `/packs/plain/answer?h=${encodeURIComponent(`Set-Cookie:${BETTER_AUTH_COOKIE}=planted; Path=/`)}`,
      { headers: { 'x-api-key': carol.key } },
    )
    expect(planted.status).toBe(200)
    expect(planted.headers.getSetCookie()).toEqual([])
    const other = await withKey.fetch(`/packs/plain/answer?h=${encodeURIComponent('Set-Cookie:theme=light')}`, {
      headers: { 'x-api-key': carol.key },
    })
    expect(other.headers.getSetCookie()).toEqual(['theme=light'])
  })

  it('does not treat cookies as a credential on a pack that does not accept sessions', async () => {
    const response = await gw.fetch('/packs/plain/inbox', withCookie(alice.cookie))
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe('This pack requires authentication.')
  })

  it('answers 503 in bounded time when the session endpoint hangs, and never admits', async () => {
    const slow = gateway(PACKS, gatewayYaml(`${backendOrigin()}/slow?ms=5000`, '300ms'))
    const started = Date.now()
    const response = await slow.fetch('/packs/app/inbox', withCookie(alice.cookie))
    expect(response.status).toBe(503)
    expect(Date.now() - started).toBeLessThan(2_000)
  })
})

describe('CSRF: unsafe cookie-authenticated requests', () => {
  const post = (headers: Record<string, string>) =>
    gw.fetch('/packs/app/send', withCookie(alice.cookie, { method: 'POST', headers, body: '{}' }))

  it('refuses a cross-site POST with 403 before asking the app', async () => {
    const attempts: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      {},
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ]
    for (const headers of attempts) {
      const response = await post(headers)
      expect(response.status, JSON.stringify(headers)).toBe(403)
      expect(((await response.json()) as { type: string }).type).toBe('urn:invoker-gateway:problem:csrf')
    }
  })

  it("admits a POST from a trusted origin, the gateway's own origin, or same-origin fetch metadata", async () => {
    const attempts: Record<string, string>[] = [
      { origin: TRUSTED },
      { origin: 'https://gw.test' },
      { 'sec-fetch-site': 'same-origin' },
    ]
    for (const headers of attempts) {
      expect((await post(headers)).status, JSON.stringify(headers)).toBe(200)
    }
  })

  it('refuses a cookie WebSocket handshake from another origin (a GET that CORS does not guard)', async () => {
    const upgrade = (headers: Record<string, string>) =>
      gw.fetch('/packs/app/ws', withCookie(alice.cookie, { headers: { upgrade: 'websocket', ...headers } }))
    const attempts: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      {},
      { 'sec-fetch-site': 'cross-site' },
    ]
    for (const headers of attempts) {
      const response = await upgrade(headers)
      expect(response.status, JSON.stringify(headers)).toBe(403)
      expect(response.webSocket ?? null).toBeNull()
      expect(((await response.json()) as { type: string }).type).toBe('urn:invoker-gateway:problem:csrf')
    }
    const trusted = await upgrade({ origin: TRUSTED })
    expect(trusted.status).toBe(101)
    trusted.webSocket?.accept()
    trusted.webSocket?.close(1000, 'done')
  })

  it('does not apply to safe methods or to requests without the session cookie', async () => {
    expect(
      (await gw.fetch('/packs/app/inbox', withCookie(alice.cookie, { headers: { origin: 'https://evil.example' } })))
        .status,
    ).toBe(200)
    const noCookie = await gw.fetch('/packs/app/send', {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
      body: '{}',
    })
    expect(noCookie.status).toBe(401)
  })
})

describe('CORS for browser callers', () => {
  it("drops the backend's own CORS fields: an Origin it echoes would let any site read a cookie's answer (red team 5)", async () => {
    const evil = await gw.fetch(
      '/packs/app/answer?reflect=1',
      withCookie(alice.cookie, { headers: { origin: 'https://evil.example' } }),
    )
    expect(evil.status).toBe(200)
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
    const trusted = await gw.fetch(
      '/packs/app/answer?reflect=1',
      withCookie(alice.cookie, { headers: { origin: TRUSTED } }),
    )
    expect(trusted.headers.get('access-control-allow-origin')).toBe(TRUSTED)
    expect(trusted.headers.get('access-control-allow-credentials')).toBe('true')
  })

  it("drops the fields the backend's Connection names and its Proxy-Authenticate; refuses TRACE (red team 5)", async () => {
    const response = await gw.fetch(
      '/packs/app/answer?h=Connection:keep-alive,%20X-Hop-Secret&h=X-Hop-Secret:internal&h=Proxy-Authenticate:Basic&h=X-Kept:yes',
      withCookie(alice.cookie),
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('x-hop-secret')).toBeNull()
    expect(response.headers.get('proxy-authenticate')).toBeNull()
    expect(response.headers.get('x-kept')).toBe('yes')
    // A Connection naming the gateway's own field cannot take it away.
    const named = await gw.fetch('/packs/app/answer?h=Connection:x-request-id', withCookie(alice.cookie))
    expect(named.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const trace = await gw.fetch('/packs/app/answer', withCookie(alice.cookie, { method: 'TRACE' }))
    expect(trace.status).toBe(405)
  })

  it('answers 502, not 500, when the backend sends a status HTTP does not define (red team 5)', async () => {
    for (const status of [600, 999]) {
      const response = await gw.fetch(`/packs/app/answer?status=${status}`, withCookie(alice.cookie))
      expect(response.status, String(status)).toBe(502)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
    }
  })

  it('answers a preflight from an allowed origin itself, without credentials', async () => {
    const response = await gw.fetch('/packs/app/send', {
      method: 'OPTIONS',
      headers: {
        origin: TRUSTED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe(TRUSTED)
    expect(response.headers.get('access-control-allow-credentials')).toBe('true')
    expect(response.headers.get('access-control-allow-methods')).toContain('POST')
    expect(response.headers.get('access-control-allow-headers')).toContain('content-type')
    expect(response.headers.get('access-control-max-age')).toBe('600')
  })

  it('gives no allow-origin to another origin', async () => {
    const response = await gw.fetch('/packs/app/send', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    })
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('adds CORS headers to answers and to errors, so the app can read them', async () => {
    const ok = await gw.fetch('/packs/app/inbox', withCookie(alice.cookie, { headers: { origin: TRUSTED } }))
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe(TRUSTED)
    expect(ok.headers.get('vary')).toContain('Origin')
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id')
    const refused = await gw.fetch('/packs/app/inbox', { headers: { origin: TRUSTED } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe(TRUSTED)
  })

  it('leaves OPTIONS to the normal way on a pack without cors', async () => {
    const response = await gw.fetch('/packs/plain/send', {
      method: 'OPTIONS',
      headers: { origin: TRUSTED, 'access-control-request-method': 'POST' },
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
  })
})
