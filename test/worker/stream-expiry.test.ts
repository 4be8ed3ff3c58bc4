/**
 * A credential whose expiry is known when its stream opens ends the stream once that expiry
 * passes, even while the source a recheck would ask is down (threat model item 10; README "Long
 * streams"). Without this, the recheck is "unavailable" and the default `streams.on_error:
 * allow` keeps the stream open past the credential's end. Real components: the Node backend's
 * SSE answers, the HTTP server the tests turn down (test/support/flaky.ts) as JWKS, introspection
 * and session endpoint, the Durable Object store with the way to it cut. Audit 1, finding E.
 */
import { env } from 'cloudflare:test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { breakableNamespace } from './faulty-store.ts'
import { gateway, type Gateway } from './harness.ts'
import { streamPastExpiry } from './stream-helpers.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN
const ADMIN_TOKEN = 'test-admin-token-that-is-long-enough'
const RECHECK_MS = 1_000
/** How late after the expiry the stream may end: one recheck, and a second for a loaded machine. */
const BOUND_MS = RECHECK_MS + 1_000
/** How long a credential lives after its stream opens. */
const LIFETIME_MS = 2_500

const flaky = {
  script: (path: string, json: unknown) =>
    fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body: JSON.stringify(json) }),
  down: (path: string) => fetch(`${FLAKY}/__down?path=${encodeURIComponent(path)}`, { method: 'POST' }),
}

let sequence = 0
function streamingGateway(
  auth: string,
  gatewayExtra: string,
  bindings: Record<string, unknown> = {},
): { gw: Gateway; pack: string } {
  const pack = `x${Date.now().toString(36)}${(sequence++).toString(36)}`
  const gw = gateway(
    {
      [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: ${auth}\nstreams: { recheck: 1s }\n`,
    },
    `issuer: https://gateway.test\napi_keys: {}\n${gatewayExtra}`,
    undefined,
    bindings,
  )
  return { gw, pack }
}

describe('a credential past its own expiry while its source is down', () => {
  it('a bearer JWT past its exp, its JWKS endpoint down: the stream ends as bearer_invalid', async () => {
    const path = `/jwks-${crypto.randomUUID()}`
    const pair = await generateKeyPair('ES256', { extractable: true })
    await flaky.script(path, { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'e1', alg: 'ES256', use: 'sig' }] })
    const iss = `https://idp-${crypto.randomUUID().slice(0, 8)}.test`
    const { gw, pack } = streamingGateway(
      '[bearer]',
      `issuers:\n  idp:\n    issuer: ${iss}\n    jwks_uri: ${FLAKY}${path}\n    audience: https://agents.test\n    algorithms: [ES256]\n    clock_tolerance: 0s\n    jwks_cache: { max_age: 1s, cooldown: 1s, stale: 1s, timeout: 1s }\n`,
    )
    const now = Math.floor(Date.now() / 1000)
    const exp = now + Math.ceil(LIFETIME_MS / 1000)
    const token = await new SignJWT({ sub: 'svc-e' })
      .setProtectedHeader({ alg: 'ES256', kid: 'e1' })
      .setIssuer(iss)
      .setAudience('https://agents.test')
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(pair.privateKey)
    const result = await streamPastExpiry(
      gw,
      `/${pack}/sse-ticks`,
      { headers: { authorization: `Bearer ${token}` } },
      () => flaky.down(path),
      exp * 1000,
      BOUND_MS,
    )
    expect(result).toMatchObject({ ended: true, late: false })
    expect(result.text).toContain('"reason":"revoked_mid_stream","detail":"The token has expired."')
    expect(result.ends).toMatchObject([{ reason: 'revoked_mid_stream', problem: 'bearer_invalid' }])
  }, 15_000)

  it('an introspected token past its exp, its introspection endpoint down: the stream ends as bearer_invalid', async () => {
    const path = `/introspect-${crypto.randomUUID()}`
    const iss = `https://idp-${crypto.randomUUID().slice(0, 8)}.test`
    const exp = Math.floor((Date.now() + LIFETIME_MS) / 1000)
    await flaky.script(path, {
      active: true,
      iss,
      sub: 'svc-opaque',
      aud: 'https://agents.test',
      scope: 'agents:read',
      exp,
      iat: exp - 60,
    })
    const { gw, pack } = streamingGateway(
      '[bearer]',
      `issuers:\n  idp:\n    issuer: ${iss}\n    audience: https://agents.test\n    algorithms: [ES256]\n    clock_tolerance: 0s\n    introspection:\n      endpoint: ${FLAKY}${path}\n      client_id: gateway\n      client_secret: IDP_INTROSPECTION_SECRET\n      cache_ttl: 30s\n`,
      { IDP_INTROSPECTION_SECRET: 'introspection-secret' },
    )
    const result = await streamPastExpiry(
      gw,
      `/${pack}/sse-ticks`,
      {
        headers: { authorization: `Bearer opaque-${crypto.randomUUID()}` },
      },
      () => flaky.down(path),
      exp * 1000,
      BOUND_MS,
    )
    expect(result).toMatchObject({ ended: true, late: false })
    expect(result.text).toContain('"reason":"revoked_mid_stream","detail":"The token has expired."')
    expect(result.ends).toMatchObject([{ reason: 'revoked_mid_stream', problem: 'bearer_invalid' }])
  }, 15_000)

  it('a session whose endpoint said when it ends (Better Auth’s session.expiresAt), the endpoint down: the stream ends as session_invalid', async () => {
    const path = `/session-${crypto.randomUUID()}`
    const expiresAt = Date.now() + LIFETIME_MS
    await flaky.script(path, {
      user: { id: `user-${path.slice(9, 17)}`, email: 'erin@example.com', name: 'Erin' },
      session: { id: 'sess-1', expiresAt: new Date(expiresAt).toISOString() },
    })
    const { gw, pack } = streamingGateway(
      '[session]',
      `session:\n  cookies: [sid]\n  introspection: { endpoint: ${FLAKY}${path}, cache_ttl: 30s }\n`,
    )
    const result = await streamPastExpiry(
      gw,
      `/${pack}/sse-ticks`,
      { headers: { cookie: 'sid=abc' } },
      () => flaky.down(path),
      expiresAt,
      BOUND_MS,
    )
    expect(result).toMatchObject({ ended: true, late: false })
    expect(result.text).toContain('"reason":"revoked_mid_stream","detail":"The session is not valid; sign in again."')
    expect(result.ends).toMatchObject([{ reason: 'revoked_mid_stream', problem: 'session_invalid' }])
  }, 15_000)

  it('a runtime API key past its expires_at, the store down: the stream ends as api_key_expired', async () => {
    const store = breakableNamespace(env.GATEWAY_STORE)
    const { gw, pack } = streamingGateway('[api_key]', '', {
      GATEWAY_STORE: store.namespace,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const { key, keyId } = generateApiKey()
    const expiresAt = Math.floor((Date.now() + LIFETIME_MS) / 1000)
    const minted = await gw.fetch('/.well-known/invoker-gateway/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        key_id: keyId,
        sha256: await sha256Hex(key),
        name: `rt-${keyId.toLowerCase()}`,
        packs: [pack],
        expires_at: expiresAt,
      }),
    })
    expect(minted.status).toBe(201)
    const result = await streamPastExpiry(
      gw,
      `/${pack}/sse-ticks`,
      { headers: { 'x-api-key': key } },
      () => store.down(),
      expiresAt * 1000,
      BOUND_MS,
    )
    expect(result).toMatchObject({ ended: true, late: false })
    expect(result.text).toContain('"reason":"revoked_mid_stream","detail":"The API key has expired."')
    expect(result.ends).toMatchObject([{ reason: 'revoked_mid_stream', problem: 'api_key_expired' }])
  }, 15_000)
})
