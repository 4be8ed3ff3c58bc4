/**
 * Red team pass 9, F6: a JWKS endpoint that answers 200 with a body jose refuses (`{"keys":[1]}`)
 * is a failed fetch like a 500: it is asked again only after the cooldown (not on every token),
 * and the last good keys keep verifying up to `stale`, never replaced by that body. Each key
 * must be a JWK object with its `kty` (RFC 7517 §4.1). The JWKS is the real HTTP server of
 * test/support/flaky.ts (it serves the body as scripted and counts requests); only `Date` is
 * faked, so an hour can pass at once while the HTTP calls stay real.
 */
import { env } from 'cloudflare:test'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { keySetAt, MIN, works } from './jwks-key-set.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN

const flaky = {
  /** `body` is sent as is: it may be JSON no JWKS endpoint should answer. */
  script: (path: string, body: string) =>
    fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body }),
  hits: async (path: string) =>
    ((await (await fetch(`${FLAKY}/__seen?path=${encodeURIComponent(path)}`)).json()) as { hits: number }).hits,
}

let jwk: JWK

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
})
afterEach(() => {
  vi.useRealTimers()
})

async function keySet(body: string, cooldownMs: number) {
  const path = `/jwks-${crypto.randomUUID()}`
  await flaky.script(path, body)
  return { source: keySetAt(path, cooldownMs), path }
}

const BAD_BODIES = [
  ['a key that is a number', '{"keys":[1]}'],
  ['a key that is null', '{"keys":[null]}'],
  ['a key without kty', '{"keys":[{"kid":"k1","alg":"ES256"}]}'],
  ['a key whose kty is no string', '{"keys":[{"kty":2,"kid":"k1"}]}'],
]

describe('a JWKS answer that is no key set', () => {
  it.each(BAD_BODIES)('%s: with no keys ever fetched, is fetched once per cooldown, not per token', async (_, body) => {
    const { source, path } = await keySet(body, 30_000)
    const answers: (true | string)[] = []
    for (let i = 0; i < 8; i++) answers.push(await works(source))
    expect(answers).toEqual(Array(8).fill('unavailable'))
    expect(await flaky.hits(path)).toBe(1)
    expect(source.staleness()).toBeNull() // no last good keys to be stale
  })

  it.each(BAD_BODIES)(
    '%s: the last good keys keep verifying (up to stale), and the endpoint is asked once per cooldown',
    async (_, body) => {
      vi.useFakeTimers({ toFake: ['Date'] })
      const t0 = Date.UTC(2026, 0, 1)
      vi.setSystemTime(t0)
      const { source, path } = await keySet(JSON.stringify({ keys: [jwk] }), 30_000)
      expect(await works(source)).toBe(true) // fetched at t0
      await flaky.script(path, body)

      // Past max_age: jose refreshes and gets the bad body; the keys of t0 still verify.
      vi.setSystemTime(t0 + 11 * MIN)
      expect(await works(source)).toBe(true)
      expect(source.staleness()).toEqual({ since: t0, problem: 'JWKS endpoint sent no valid key set' })
      const hits = await flaky.hits(path)
      expect(hits).toBe(2)
      // Within the cooldown, an unknown kid asks nobody.
      for (let i = 0; i < 5; i++) await source.getKey({ alg: 'ES256', kid: `other-${i}` }).catch(() => undefined)
      expect(await works(source)).toBe(true)
      expect(await flaky.hits(path)).toBe(hits)

      // At `stale` the last good keys stop working: the source is unavailable (503), not answered by the bad body.
      vi.setSystemTime(t0 + 60 * MIN)
      expect(await works(source)).toBe('unavailable')
    },
  )
})
