/**
 * An issuer's last good JWKS while its endpoint fails (README "JWKS": "the last good keys keep
 * working for up to `stale` after they were fetched"; `jwks_stale`: "at `stale` they stop
 * working"). jose takes the copy handed to it during an outage as a fresh answer and restarts its
 * `max_age` clock on it; the bound must hold anyway. The JWKS is served by the real HTTP server
 * the tests turn down and up (test/support/flaky.ts), inside workerd; the clock is faked (Date
 * only: the HTTP calls and their timeouts are real) so an hour passes at once. Audit 1, finding D.
 */
import { env } from 'cloudflare:test'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterEach, beforeAll, expect, it, vi } from 'vitest'
import { keySetAt, MIN, works } from './jwks-key-set.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN
const control = (verb: 'script' | 'down' | 'up', path: string, body?: unknown) =>
  fetch(`${FLAKY}/__${verb}?path=${encodeURIComponent(path)}`, {
    method: verb === 'script' ? 'PUT' : 'POST',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })

let jwk: JWK

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true })
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
})
afterEach(() => {
  vi.useRealTimers()
})

/** A key set on a JWKS path of its own, served (up) with the test's key. */
async function keySet() {
  const path = `/jwks-${crypto.randomUUID()}`
  await control('script', path, { keys: [jwk] })
  return { source: keySetAt(path, 30_000), path }
}

it('stops using the last good keys `stale` after they were fetched, though jose took them as fresh just before', async () => {
  vi.useFakeTimers({ toFake: ['Date'] })
  const t0 = Date.UTC(2026, 0, 1)
  vi.setSystemTime(t0)
  const { source, path } = await keySet()
  expect(await works(source)).toBe(true) // fetched at t0
  await control('down', path) // the IdP's JWKS endpoint fails from now on

  // Past max_age: jose refreshes, the endpoint fails, the 59-minute-old keys still verify.
  vi.setSystemTime(t0 + 59 * MIN)
  expect(await works(source)).toBe(true)
  expect(source.staleness()?.since).toBe(t0)

  // jose's clock restarted at +59 min, so it would not ask again before +69 min; the keys are
  // 60 min old now, and stop working at once (503: the source is unavailable).
  vi.setSystemTime(t0 + 60 * MIN)
  expect(await works(source)).toBe('unavailable')
  vi.setSystemTime(t0 + 65 * MIN)
  expect(await works(source)).toBe('unavailable')
})

it('asks the endpoint again (once per cooldown) past `stale`, and works again once it answers', async () => {
  vi.useFakeTimers({ toFake: ['Date'] })
  const t0 = Date.UTC(2026, 0, 2)
  vi.setSystemTime(t0)
  const { source, path } = await keySet()
  expect(await works(source)).toBe(true)
  await control('down', path)
  vi.setSystemTime(t0 + 59 * MIN)
  expect(await works(source)).toBe(true)
  vi.setSystemTime(t0 + 61 * MIN) // past `stale`, and past the cooldown of the +59 min failure: asked again
  expect(await works(source)).toBe('unavailable')
  expect(source.staleness()?.problem).toBe('JWKS endpoint answered 500')
  await control('up', path)
  vi.setSystemTime(t0 + 61 * MIN + 10_000) // within the cooldown of that failure: not asked yet
  expect(await works(source)).toBe('unavailable')
  vi.setSystemTime(t0 + 62 * MIN)
  expect(await works(source)).toBe(true)
  expect(source.staleness()).toBeNull()
})
