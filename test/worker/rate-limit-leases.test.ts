/**
 * Issue 13 through the whole gateway, on both real stores (Upstash through the REST adapter on a
 * real redis-server; Durable Objects in workerd): store round trips per burst, window turnover
 * and refill with leases, what store_timeout measures, and a store slowed to 3x store_timeout or
 * stopped in the middle of a burst. Two gateway processes sharing one store are in
 * test/node/rate-limit-burst.test.ts.
 */
import { env } from 'cloudflare:test'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Bindings } from '../../src/env.ts'
import { countingNamespace } from './faulty-store.ts'
import { gateway, mintKey, type MintedKey } from './harness.ts'

type StoreName = 'upstash' | 'durable_object'

let sequence = 0
const uniquePack = (): string => `l${Date.now().toString(36)}${(sequence++).toString(36)}`
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

let alice: MintedKey
let gatewayYaml: (extra?: string) => string

beforeAll(async () => {
  alice = await mintKey('alice')
  gatewayYaml = (extra = '') => `issuer: https://gateway.test\n${extra}api_keys:\n${alice.yaml}`
})

afterEach(() => {
  vi.restoreAllMocks()
})

const packWith = (id: string, rules: string): Record<string, string> => ({
  [id]: `pack: ${id}\nupstream: $BACKEND\nmatch: { path_prefix: /${id} }\nauth: [api_key]\nrate_limits:\n${rules}`,
})
const withKey = (): RequestInit => ({ headers: { 'x-api-key': alice.key } })

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

const control = (action: string): Promise<Response> =>
  fetch(`${env.TEST_UPSTASH_URL}/__control/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.TEST_UPSTASH_TOKEN}` },
  })

/** Bindings for one store, and how many store calls have touched `match` (a pack id) so far. */
async function storeUnderWatch(
  store: StoreName,
  match: string,
): Promise<{ bindings: Omit<Bindings, 'INVOKER_SIGNING_KEYS'>; calls: () => Promise<number> }> {
  if (store === 'upstash') {
    await control(`watch?match=${encodeURIComponent(match)}`)
    return {
      bindings: { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN },
      calls: async () =>
        ((await (await control(`stats?match=${encodeURIComponent(match)}`)).json()) as { result: { commands: number } })
          .result.commands,
    }
  }
  const counting = countingNamespace(env.GATEWAY_STORE)
  return { bindings: { GATEWAY_STORE: counting.namespace }, calls: async () => counting.calls(`rl:${match}`) }
}

/** Keeps a test of hour or minute windows away from a boundary. */
async function clearOfBoundary(ms: number, margin = 5_000): Promise<void> {
  const left = ms - (Date.now() % ms)
  if (left < margin) await sleep(left + 5)
}

describe.each<StoreName>(['upstash', 'durable_object'])('leases with the %s store', (store) => {
  it('a burst of 200 concurrent requests of one invoker costs at most 3 store calls', async () => {
    const id = uniquePack()
    const watch = await storeUnderWatch(store, id)
    const gw = gateway(
      packWith(id, '  - { id: hot, by: invoker, limit: 1000000, window: 1m }\n'),
      gatewayYaml(),
      undefined,
      watch.bindings,
    )
    const results = await statuses(Array.from({ length: 200 }, () => gw.fetch(`/${id}/x`, withKey())))
    expect(count(results, 200)).toBe(200)
    // Upstash: commands (the client may pipeline several into one HTTP request); Durable Objects: RPCs.
    expect(await watch.calls()).toBeLessThanOrEqual(3)
  })

  it.each(['fixed_window', 'sliding_window', 'token_bucket'])(
    '%s: 200 concurrent requests against a limit of 50 admit exactly 50',
    async (algorithm) => {
      await clearOfBoundary(3_600_000)
      const id = uniquePack()
      const watch = await storeUnderWatch(store, id)
      const gw = gateway(
        packWith(id, `  - { id: burst, by: invoker, algorithm: ${algorithm}, limit: 50, window: 1h }\n`),
        gatewayYaml(),
        undefined,
        watch.bindings,
      )
      const results = await statuses(Array.from({ length: 200 }, () => gw.fetch(`/${id}/x`, withKey())))
      expect(count(results, 200)).toBe(50)
      expect(count(results, 429)).toBe(150)
      // Refusals are answered from memory: more requests cost no store call.
      const calls = await watch.calls()
      const again = await statuses(Array.from({ length: 50 }, () => gw.fetch(`/${id}/x`, withKey())))
      expect(count(again, 429)).toBe(50)
      expect(await watch.calls()).toBe(calls)
    },
  )

  it('a lease never outlives its window: fixed windows turn over and token buckets refill as before', async () => {
    const id = uniquePack()
    const gw = gateway(
      packWith(
        id,
        '  - { id: fixed, by: invoker, algorithm: fixed_window, limit: 5, window: 1s, when: { method: GET } }\n  - { id: bucket, by: invoker, algorithm: token_bucket, limit: 5, window: 1s, when: { method: POST } }\n',
      ),
      gatewayYaml(),
      undefined,
      (await storeUnderWatch(store, id)).bindings,
    )
    const burst = (method: string): Promise<number[]> =>
      statuses(
        Array.from({ length: 30 }, () =>
          gw.fetch(`/${id}/x`, { ...withKey(), method, ...(method === 'POST' ? { body: 'x' } : {}) }),
        ),
      )
    // Start just after a second boundary, so each burst stays inside one window.
    await sleep(1000 - (Date.now() % 1000) + 20)
    expect(count(await burst('GET'), 200)).toBe(5)
    expect(count(await burst('POST'), 200)).toBe(5)
    // The bucket refills a window after its first use (no later than the end of its first burst).
    const bucketFull = Date.now() + 1000
    await sleep(1000 - (Date.now() % 1000) + 20)
    expect(count(await burst('GET'), 200)).toBe(5)
    await sleep(Math.max(0, bucketFull + 20 - Date.now()))
    expect(count(await burst('POST'), 200)).toBe(5)
  })
})

describe('when the Upstash store is slow or stops (on_error: local, and deny)', () => {
  afterEach(async () => {
    await control('delay?ms=0')
    await control('redis/start')
  })

  const limited = (id: string, timeout: string, onError = 'local, local_fraction: 0.25'): ReturnType<typeof gateway> =>
    gateway(
      packWith(id, `  - { id: guarded, by: invoker, limit: 40, window: 1h, on_error: ${onError} }\n`),
      gatewayYaml(`store_timeout: ${timeout}\n`),
      undefined,
      { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN },
    )

  it('store_timeout measures the store call, not the wait behind other requests: a store at half the timeout never fails a burst', async () => {
    await clearOfBoundary(3_600_000)
    const id = uniquePack()
    // on_error: deny, so a store call counted as timed out would show as a 503.
    const gw = limited(id, '300ms', 'deny')
    await control('delay?ms=150')
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const results = await statuses(Array.from({ length: 200 }, () => gw.fetch(`/${id}/x`, withKey())))
    expect(count(results, 200)).toBe(40)
    expect(count(results, 429)).toBe(160)
    expect(lines.filter((l) => l.includes('"store_error":{'))).toEqual([])
  })

  it('a store slowed to 3x store_timeout mid-burst: never more than the limit plus the local share, no 500, no hang', async () => {
    await clearOfBoundary(3_600_000)
    const id = uniquePack()
    const gw = limited(id, '100ms')
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const first = await statuses(Array.from({ length: 20 }, () => gw.fetch(`/${id}/x`, withKey())))
    await control('delay?ms=300')
    const started = Date.now()
    const second = await statuses(Array.from({ length: 200 }, () => gw.fetch(`/${id}/x`, withKey())))
    expect(Date.now() - started).toBeLessThan(3_000)
    const all = [...first, ...second]
    expect(all.every((s) => s === 200 || s === 429)).toBe(true)
    // The store granted at most 40; the isolate admits at most 10 (a quarter) on its own.
    expect(count(all, 200)).toBeGreaterThanOrEqual(20)
    expect(count(all, 200)).toBeLessThanOrEqual(40 + 10)
    const degraded = lines
      .map((l) => JSON.parse(l) as { store_error: { on_error: string; timed_out: boolean } | null })
      .filter((l) => l.store_error)
    expect(degraded.length).toBeGreaterThan(0)
    expect(degraded.every((l) => l.store_error?.on_error === 'local' && l.store_error.timed_out)).toBe(true)
  })

  it('a store stopped in the middle of a burst: never more than the limit plus the local share, no 500, no hang', async () => {
    await clearOfBoundary(3_600_000)
    const id = uniquePack()
    const gw = limited(id, '200ms')
    const started = Date.now()
    const burst = Array.from({ length: 300 }, async (_, i) => {
      if (i >= 100) await sleep(30 + (i - 100) / 4)
      if (i === 150) await control('redis/stop')
      return gw.fetch(`/${id}/x`, withKey())
    })
    const results = await statuses(burst)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(results.every((s) => s === 200 || s === 429)).toBe(true)
    expect(count(results, 200)).toBeLessThanOrEqual(40 + 10)
    expect(count(results, 200)).toBeGreaterThanOrEqual(10)
  })
})

describe('issue 12 item 11: a store that cannot even be set up', () => {
  const broken = { UPSTASH_REDIS_REST_URL: 'not a url', UPSTASH_REDIS_REST_TOKEN: 't' }

  it("ends every rate-limit path in the rule's on_error (503 for deny), never a 500, with no unhandled rejection", async () => {
    const rejections: unknown[] = []
    const listener = (event: PromiseRejectionEvent): void => void rejections.push(event.reason)
    addEventListener('unhandledrejection', listener)
    try {
      for (const [onError, expected] of [
        ['deny', [503, 503]],
        ['allow', [200, 200]],
        ['local', [200, 429]],
      ] as const) {
        const id = uniquePack()
        const gw = gateway(
          packWith(
            id,
            `  - { id: r, by: invoker, limit: 2, window: 1m, on_error: ${onError}${onError === 'local' ? ', local_fraction: 0.5' : ''} }\n`,
          ),
          gatewayYaml('store_timeout: 100ms\n'),
          undefined,
          broken,
        )
        expect(
          [(await gw.fetch(`/${id}/x`, withKey())).status, (await gw.fetch(`/${id}/x`, withKey())).status],
          onError,
        ).toEqual(expected)
      }
      await sleep(200)
      expect(rejections).toEqual([])
    } finally {
      removeEventListener('unhandledrejection', listener)
    }
  })

  it('answers 503 for a runtime key it cannot look up, never a 500', async () => {
    const gw = gateway(
      { keys: 'pack: keys\nupstream: $BACKEND\nmatch: { path_prefix: /keys }\nauth: [api_key]\n' },
      gatewayYaml('store_timeout: 100ms\n'),
      undefined,
      { ...broken, GATEWAY_ADMIN_TOKEN: 'an-admin-token-that-is-long-enough' },
    )
    const { generateApiKey } = await import('../../src/keys/api-key-format.ts')
    const response = await gw.fetch('/keys/x', { headers: { 'x-api-key': generateApiKey().key } })
    expect(response.status).toBe(503)
  })
})
