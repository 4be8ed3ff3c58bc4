/**
 * Audit 2, finding 1: every fetch the gateway makes for itself (session endpoint, token
 * introspection, JWKS, Web Bot Auth key directory) is made with `cache: 'no-store'`, as the
 * upstream fetch is (upstream-cache.test.ts). A session endpoint is usually in the Worker's own
 * zone, whose cache is keyed by URL alone: a cached get-session answer for one user's cookie
 * would be served for another's. What Cloudflare's cache does cannot be seen locally; what
 * workerd does with the option can: it sends `Cache-Control: no-cache` (and `Pragma: no-cache`)
 * on such a request, and never without it. Each service here is the real HTTP server of
 * test/support/flaky.ts, which tells the test what it was asked (`/__seen`).
 */
import { env } from 'cloudflare:test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { KeyDirectories } from '../../src/pipeline/authenticate/envelope/directory.ts'
import type { EnvelopeSettings } from '../../src/policy/types.ts'
import { gateway } from './harness.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN
const AUDIENCE = 'https://agents.test'

const flaky = {
  script: (path: string, json: unknown) =>
    fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body: JSON.stringify(json) }),
  seen: async (path: string) =>
    (await (await fetch(`${FLAKY}/__seen?path=${encodeURIComponent(path)}`)).json()) as {
      hits: number
      headers: Record<string, string>
    },
}

function pack(auth: string): { id: string; yaml: Record<string, string> } {
  const id = `c${crypto.randomUUID().slice(0, 8)}`
  return { id, yaml: { [id]: `pack: ${id}\nupstream: $BACKEND\nmatch: { path_prefix: /${id} }\nauth: [${auth}]\n` } }
}

/** Asked at least once, and every time (the last one shows) marked as a no-store fetch. */
async function expectNoStore(path: string): Promise<void> {
  const seen = await flaky.seen(path)
  expect(seen.hits).toBeGreaterThan(0)
  expect(seen.headers['cache-control']).toBe('no-cache')
  expect(seen.headers['pragma']).toBe('no-cache')
}

describe("the gateway's own fetches bypass the zone cache", () => {
  it('the session endpoint (carrying the caller’s cookie)', async () => {
    const path = `/session-${crypto.randomUUID()}`
    await flaky.script(path, {
      user: { id: 'user-cache', email: 'casey@example.com', name: 'Casey' },
      session: { id: 'sess-cache', expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    })
    const { id, yaml } = pack('session')
    const gw = gateway(
      yaml,
      `issuer: https://gateway.test\napi_keys: {}\nsession:\n  cookies: [sid]\n  introspection: { endpoint: ${FLAKY}${path}, cache_ttl: 1s }\n`,
    )
    const response = await gw.fetch(`/${id}/x`, { headers: { cookie: 'sid=user-b' } })
    expect(response.status).toBe(200)
    await expectNoStore(path)
    expect((await flaky.seen(path)).headers['cookie']).toBe('sid=user-b')
  })

  it('token introspection', async () => {
    const path = `/introspect-${crypto.randomUUID()}`
    const iss = `https://idp-${crypto.randomUUID().slice(0, 8)}.test`
    const now = Math.floor(Date.now() / 1000)
    await flaky.script(path, { active: true, iss, sub: 'svc-cache', aud: AUDIENCE, exp: now + 600, iat: now })
    const { id, yaml } = pack('bearer')
    const gw = gateway(
      yaml,
      `issuer: https://gateway.test\napi_keys: {}\nissuers:\n  idp:\n    issuer: ${iss}\n    audience: ${AUDIENCE}\n    algorithms: [ES256]\n    introspection:\n      endpoint: ${FLAKY}${path}\n      client_id: gateway\n      client_secret: IDP_INTROSPECTION_SECRET\n`,
      undefined,
      { IDP_INTROSPECTION_SECRET: 'introspection-secret' },
    )
    const response = await gw.fetch(`/${id}/x`, { headers: { authorization: `Bearer opaque-${crypto.randomUUID()}` } })
    expect(response.status).toBe(200)
    await expectNoStore(path)
  })

  it('an issuer’s JWKS', async () => {
    const path = `/jwks-${crypto.randomUUID()}`
    const pair = await generateKeyPair('ES256', { extractable: true })
    await flaky.script(path, { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'c1', alg: 'ES256', use: 'sig' }] })
    const iss = `https://idp-${crypto.randomUUID().slice(0, 8)}.test`
    const { id, yaml } = pack('bearer')
    const gw = gateway(
      yaml,
      `issuer: https://gateway.test\napi_keys: {}\nissuers:\n  idp:\n    issuer: ${iss}\n    jwks_uri: ${FLAKY}${path}\n    audience: ${AUDIENCE}\n    algorithms: [ES256]\n`,
    )
    const token = await new SignJWT({ sub: 'svc-cache' })
      .setProtectedHeader({ alg: 'ES256', kid: 'c1' })
      .setIssuer(iss)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(pair.privateKey)
    const response = await gw.fetch(`/${id}/x`, { headers: { authorization: `Bearer ${token}` } })
    expect(response.status).toBe(200)
    await expectNoStore(path)
  })

  it('a Web Bot Auth key directory', async () => {
    // The flaky server's one directory path; whatever it answers, the request is what counts.
    const directories = new KeyDirectories({
      directoryTimeoutMs: 2_000,
      directoryCacheMs: 60_000,
      directoryStaleMs: 3_600_000,
    } as EnvelopeSettings)
    await directories.lookup(FLAKY, 'no-such-key')
    await expectNoStore('/.well-known/http-message-signatures-directory')
  })
})
