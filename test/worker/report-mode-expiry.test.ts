/**
 * Audit 2, finding 2: in `mode: report` a token refused for an authorization reason (a scope the
 * pack requires) is still forwarded; its stream must end at the token's own `exp` as an admitted
 * token's does (stream-expiry.test.ts), even while its JWKS is down and the pack's
 * `streams.on_error: allow` would keep a stream whose recheck is "unavailable" open. Real
 * components: the Node backend's SSE answer, the JWKS served by the HTTP server the test turns
 * down (test/support/flaky.ts).
 */
import { env } from 'cloudflare:test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { gateway } from './harness.ts'
import { streamPastExpiry } from './stream-helpers.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN
/** How late after `exp` the stream may end: one recheck (1 s), and a second for a loaded machine. */
const BOUND_MS = 2_000

const flaky = {
  script: (path: string, json: unknown) =>
    fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body: JSON.stringify(json) }),
  down: (path: string) => fetch(`${FLAKY}/__down?path=${encodeURIComponent(path)}`, { method: 'POST' }),
}

describe('report mode: a forwarded caller’s stream and its credential’s expiry', () => {
  it.each([
    ['enforce mode, no scope required (control)', ''],
    [
      'report mode, a scope the token lacks (would_deny: insufficient_scope)',
      'mode: report\nbearer: { scopes: { all_of: [agents:write] } }\n',
    ],
  ])(
    '%s: the stream of a JWT past its exp, its JWKS down, ends as bearer_invalid',
    async (_, extra) => {
      const path = `/jwks-${crypto.randomUUID()}`
      const pair = await generateKeyPair('ES256', { extractable: true })
      await flaky.script(path, {
        keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'r1', alg: 'ES256', use: 'sig' }],
      })
      const iss = `https://idp-${crypto.randomUUID().slice(0, 8)}.test`
      const pack = `r${crypto.randomUUID().slice(0, 8)}`
      const gw = gateway(
        {
          [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: [bearer]\n${extra}streams: { recheck: 1s }\n`,
        },
        `issuer: https://gateway.test\napi_keys: {}\nissuers:\n  idp:\n    issuer: ${iss}\n    jwks_uri: ${FLAKY}${path}\n    audience: https://agents.test\n    algorithms: [ES256]\n    clock_tolerance: 0s\n    jwks_cache: { max_age: 1s, cooldown: 1s, stale: 1s, timeout: 1s }\n`,
      )
      const now = Math.floor(Date.now() / 1000)
      const exp = now + 3
      const token = await new SignJWT({ sub: 'svc-r', scope: 'agents:read' })
        .setProtectedHeader({ alg: 'ES256', kid: 'r1' })
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
      expect(result.ended, 'the stream is still open past exp').toBe(true)
      expect(result.late).toBe(false)
      expect(result.text).toContain('"reason":"revoked_mid_stream","detail":"The token has expired."')
      expect(result.ends).toMatchObject([{ reason: 'revoked_mid_stream', problem: 'bearer_invalid' }])
    },
    20_000,
  )
})
