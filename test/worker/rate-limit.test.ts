/**
 * Rate limits against both real stores: Upstash (the real @upstash/redis client and the
 * gateway's lease script, through the REST adapter, on a real redis-server) and the Durable
 * Object store (real Durable Objects in workerd). Each test uses its own pack id, so counters
 * never carry over between tests.
 */
import { env } from 'cloudflare:test'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { STORE_FAILURE_BACKOFF_MS } from '../../src/constants.ts'
import type { Bindings } from '../../src/env.ts'
import { gateway, mintKey, type Gateway, type MintedKey } from './harness.ts'

type StoreName = 'upstash' | 'durable_object'
const STORES: StoreName[] = ['upstash', 'durable_object']

function bindingsFor(store: StoreName, overrides: Partial<Bindings> = {}): Omit<Bindings, 'INVOKER_SIGNING_KEYS'> {
  return store === 'upstash'
    ? { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN, ...overrides }
    : { GATEWAY_STORE: env.GATEWAY_STORE, ...overrides }
}

let sequence = 0
const uniquePack = (): string => `p${Date.now().toString(36)}${(sequence++).toString(36)}`

let alice: MintedKey
let bob: MintedKey
let gatewayYaml: (extra?: string) => string

beforeAll(async () => {
  alice = await mintKey('alice', 'invoker: { meta: { org: acme, team: red } }')
  bob = await mintKey('bob', 'invoker: { meta: { org: acme, team: blue } }')
  gatewayYaml = (extra = '') => `issuer: https://gateway.test\n${extra}api_keys:\n${alice.yaml}${bob.yaml}`
})

function packWith(id: string, rules: string, extra = ''): Record<string, string> {
  return {
    [id]: `pack: ${id}\nupstream: $BACKEND\nmatch: { path_prefix: /${id} }\nauth: [api_key]\nanonymous: allow\n${extra}rate_limits:\n${rules}`,
  }
}

const withKey = (key: MintedKey): RequestInit => ({ headers: { 'x-api-key': key.key } })

async function statuses(responses: Promise<Response>[]): Promise<number[]> {
  return Promise.all(
    responses.map(async (r) => {
      const response = await r
      await response.arrayBuffer()
      return response.status
    }),
  )
}

const count = (list: number[], status: number): number => list.filter((s) => s === status).length

/** Waits until the start of a window of `ms`, so a short burst cannot straddle a boundary. */
async function alignToWindow(ms: number): Promise<void> {
  const into = Date.now() % ms
  if (into > ms / 10) await new Promise((resolve) => setTimeout(resolve, ms - into + 5))
}

/**
 * Waits out the end of a window of `ms` when less than `margin` of it is left: a sliding window
 * rightly admits one more request just after a boundary (the previous window's weight drops below
 * the limit), so an exact count needs a burst that stays inside one window.
 */
async function clearOfBoundary(ms: number, margin = 5_000): Promise<void> {
  const left = ms - (Date.now() % ms)
  if (left < margin) await new Promise((resolve) => setTimeout(resolve, left + 5))
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe.each(STORES)('rate limits with the %s store', (store) => {
  // Most rules below count per minute; keep each test's requests inside one minute.
  beforeEach(() => clearOfBoundary(60_000))

  it('admits exactly the limit out of 200 concurrent requests for one key', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(id, '  - { id: burst, by: invoker, limit: 20, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    const results = await statuses(Array.from({ length: 200 }, () => gw.fetch(`/${id}/x`, withKey(alice))))
    expect(count(results, 200)).toBe(20)
    expect(count(results, 429)).toBe(180)
  })

  it('answers 429 as problem+json with Retry-After and the RateLimit fields', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(id, '  - { id: tight, by: invoker, limit: 1, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    const first = await gw.fetch(`/${id}/x`, withKey(alice))
    expect(first.status).toBe(200)
    expect(first.headers.get('ratelimit-policy')).toBe('"tight";q=1;w=60')
    expect(first.headers.get('ratelimit')).toMatch(/^"tight";r=0;t=\d+$/)
    const second = await gw.fetch(`/${id}/x`, withKey(alice))
    expect(second.status).toBe(429)
    expect(second.headers.get('content-type')).toBe('application/problem+json')
    const retryAfter = Number(second.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(second.headers.get('ratelimit')).toMatch(/^"tight";r=0;t=\d+$/)
    const body = (await second.json()) as { type: string; status: number }
    expect(body).toMatchObject({ type: 'urn:invoker-gateway:problem:rate-limited', status: 429 })
  })

  it('shares one budget between two gateway instances on the same store', async () => {
    const id = uniquePack()
    const packs = packWith(id, '  - { id: shared, by: pack, limit: 20, window: 1m }\n')
    // For Upstash the second instance gets its own client and ephemeral cache (another URL spelling).
    const a = gateway(packs, gatewayYaml(), undefined, bindingsFor(store))
    const b = gateway(
      packs,
      gatewayYaml(),
      undefined,
      bindingsFor(store, store === 'upstash' ? { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL + '/' } : {}),
    )
    const results = await statuses(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).fetch(`/${id}/x`, withKey(i % 4 < 2 ? alice : bob))),
    )
    expect(count(results, 200)).toBe(20)
  })

  it('keeps different keys apart', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(id, '  - { id: per-key, by: api_key, limit: 5, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    const results = await statuses([
      ...Array.from({ length: 8 }, () => gw.fetch(`/${id}/x`, withKey(alice))),
      ...Array.from({ length: 8 }, () => gw.fetch(`/${id}/x`, withKey(bob))),
    ])
    expect(count(results.slice(0, 8), 200)).toBe(5)
    expect(count(results.slice(8), 200)).toBe(5)
  })

  it('counts by meta fields and by org', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(
        id,
        '  - { id: per-team, by: meta.team, limit: 2, window: 1m }\n  - { id: per-org, by: org, limit: 3, window: 1m }\n',
      ),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    // alice and bob share the org (3) but not the team (2 each). Every applicable rule counts a
    // request, also one that another rule refuses: alice's third call spends the org's third.
    const seen: string[] = []
    for (const key of [alice, alice, alice, bob]) {
      const response = await gw.fetch(`/${id}/x`, withKey(key))
      const detail = response.status === 429 ? ((await response.json()) as { detail: string }).detail : ''
      seen.push(`${response.status}${/"([^"]+)"/.exec(detail)?.[1] ?? ''}`)
    }
    expect(seen).toEqual(['200', '200', '429per-team', '429per-org'])
  })

  it('applies a rule only where its when holds', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(id, '  - { id: anon-ip, by: ip, when: { kind: anonymous }, limit: 1, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    expect((await gw.fetch(`/${id}/x`)).status).toBe(200)
    expect((await gw.fetch(`/${id}/x`)).status).toBe(429)
    expect((await gw.fetch(`/${id}/x`, { ip: '198.51.100.9' })).status).toBe(200)
    const keyed = await gw.fetch(`/${id}/x`, withKey(alice))
    expect(keyed.status).toBe(200)
    expect(keyed.headers.get('ratelimit-policy')).toBeNull()
  })

  it('resets a fixed window at its boundary and refills a token bucket', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(
        id,
        '  - { id: fixed, by: invoker, algorithm: fixed_window, limit: 2, window: 1s, when: { method: GET } }\n  - { id: bucket, by: invoker, algorithm: token_bucket, limit: 2, window: 1s, when: { method: POST } }\n',
      ),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    await alignToWindow(1000)
    const get = async (): Promise<number> => (await gw.fetch(`/${id}/x`, withKey(alice))).status
    const post = async (): Promise<number> =>
      (await gw.fetch(`/${id}/x`, { ...withKey(alice), method: 'POST', body: 'x' })).status
    expect([await get(), await get(), await get()]).toEqual([200, 200, 429])
    expect([await post(), await post(), await post()]).toEqual([200, 200, 429])
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect(await get()).toBe(200)
    expect(await post()).toBe(200)
  })

  it('gives the same answers as the other store for the same rules', async () => {
    // The sequence of (status, remaining) for a sliding window must not depend on the store.
    const id = uniquePack()
    const gw = gateway(
      packWith(id, '  - { id: slide, by: invoker, limit: 4, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      bindingsFor(store),
    )
    const seen: string[] = []
    for (let i = 0; i < 6; i++) {
      const response = await gw.fetch(`/${id}/x`, withKey(alice))
      seen.push(`${response.status} ${/r=(\d+)/.exec(response.headers.get('ratelimit') ?? '')?.[1]}`)
    }
    expect(seen).toEqual(['200 3', '200 2', '200 1', '200 0', '429 0', '429 0'])
  })

  it('claims a nonce once until it expires', async () => {
    const { storeFor } = await import('../../src/store/index.ts')
    const s = storeFor(bindingsFor(store))
    expect(s?.kind).toBe(store)
    const nonce = `n-${uniquePack()}`
    expect(await s?.claimOnce(nonce, 300)).toBe(true)
    expect(await s?.claimOnce(nonce, 300)).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(await s?.claimOnce(nonce, 300)).toBe(true)
  })
})

describe('when the Upstash store fails', () => {
  const control = (action: string): Promise<Response> =>
    fetch(`${env.TEST_UPSTASH_URL}/__control/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.TEST_UPSTASH_TOKEN}` },
    })

  afterEach(async () => {
    await control('delay?ms=0')
    await control('redis/start')
  })

  function faultGateway(onError: 'allow' | 'deny'): { gw: Gateway; id: string } {
    const id = uniquePack()
    const gw = gateway(
      packWith(id, `  - { id: guarded, by: invoker, limit: 100, window: 1m, on_error: ${onError} }\n`),
      gatewayYaml('store_timeout: 300ms\n'),
      undefined,
      bindingsFor('upstash'),
    )
    return { gw, id }
  }

  it('keeps serving with on_error: allow while Redis is down, logs it, and recovers', async () => {
    const { gw, id } = faultGateway('allow')
    expect((await gw.fetch(`/${id}/x`, withKey(alice))).status).toBe(200)
    expect((await control('redis/stop')).status).toBe(200)
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const started = Date.now()
    const during = await gw.fetch(`/${id}/x`, withKey(alice))
    expect(during.status).toBe(200)
    expect(Date.now() - started).toBeLessThan(2000)
    const logged = lines.map((l) => JSON.parse(l) as { store_error: unknown }).find((l) => l.store_error)
    expect(logged?.store_error).toMatchObject({ rule: 'guarded', on_error: 'allow' })
    await control('redis/start')
    // After a failure the isolate decides by on_error for STORE_FAILURE_BACKOFF_MS without asking.
    await new Promise((resolve) => setTimeout(resolve, STORE_FAILURE_BACKOFF_MS + 50))
    const after = await gw.fetch(`/${id}/x`, withKey(alice))
    expect(after.status).toBe(200)
    expect(after.headers.get('ratelimit')).toMatch(/^"guarded";r=\d+/)
  })

  it('answers 503 quickly with on_error: deny while Redis is down, and recovers', async () => {
    const { gw, id } = faultGateway('deny')
    await control('redis/stop')
    const started = Date.now()
    const during = await gw.fetch(`/${id}/x`, withKey(alice))
    expect(during.status).toBe(503)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(((await during.json()) as { type: string }).type).toBe('urn:invoker-gateway:problem:store-unavailable')
    await control('redis/start')
    await new Promise((resolve) => setTimeout(resolve, STORE_FAILURE_BACKOFF_MS + 50))
    expect((await gw.fetch(`/${id}/x`, withKey(alice))).status).toBe(200)
  })

  it('bounds a slow store by store_timeout: deny → 503, allow → 200, neither hangs', async () => {
    await control('delay?ms=3000')
    for (const [onError, expected] of [
      ['deny', 503],
      ['allow', 200],
    ] as const) {
      const { gw, id } = faultGateway(onError)
      const started = Date.now()
      const response = await gw.fetch(`/${id}/x`, withKey(alice))
      expect(response.status).toBe(expected)
      expect(Date.now() - started).toBeLessThan(1500)
    }
  })
})

describe('with no store at all', () => {
  it('lets on_error decide instead of failing the request', async () => {
    const id = uniquePack()
    const allow = gateway(
      packWith(id, '  - { id: r, by: invoker, limit: 1, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      {},
    )
    expect((await allow.fetch(`/${id}/x`, withKey(alice))).status).toBe(200)
    const id2 = uniquePack()
    const deny = gateway(
      packWith(id2, '  - { id: r, by: invoker, limit: 1, window: 1m, on_error: deny }\n'),
      gatewayYaml(),
      undefined,
      {},
    )
    expect((await deny.fetch(`/${id2}/x`, withKey(alice))).status).toBe(503)
  })
})
