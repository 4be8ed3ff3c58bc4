/**
 * The lease table against the real Durable Object store (workerd), with delays and failures put
 * in front of it by test/worker/faulty-store.ts: single flight, leases, free refusals, what
 * store_timeout measures, the degraded limiter, and the bound on the table itself.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { LEASE_HORIZON_MS, STORE_FAILURE_BACKOFF_MS } from '../../constants.ts'
import type { CompiledRateLimit, RateLimitAlgorithm, RateLimitOnError } from '../../policy/types.ts'
import { DurableObjectStore } from '../../store/durable-object.ts'
import { FaultyStore } from '../../../test/worker/faulty-store.ts'
import { LeaseTable, type Taken } from './lease-table.ts'

const ALGORITHMS: RateLimitAlgorithm[] = ['fixed_window', 'sliding_window', 'token_bucket']

let sequence = 0
const unique = (): string => `t${Date.now().toString(36)}${(sequence++).toString(36)}:r:`

function rule(
  limit: number,
  algorithm: RateLimitAlgorithm = 'fixed_window',
  onError: RateLimitOnError = 'deny',
  localLimit = Math.max(1, Math.floor(limit / 2)),
): CompiledRateLimit {
  return {
    id: 'r',
    by: 'invoker',
    limit,
    windowMs: 3_600_000,
    algorithm,
    when: { kinds: null, methods: null, agents: null },
    onError,
    localLimit,
  }
}

function store(): FaultyStore {
  return new FaultyStore(new DurableObjectStore(env.GATEWAY_STORE))
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const admittedCount = (results: Taken[]): number => results.filter((r) => r.kind === 'ok').length

/** Hour windows: a test must not straddle an hour boundary (a few ms of margin suffice here). */
async function clearOfHour(): Promise<void> {
  const left = 3_600_000 - (Date.now() % 3_600_000)
  if (left < 10_000) await sleep(left + 10)
}

describe('single flight and leases', () => {
  it.each(ALGORITHMS)(
    '%s: 200 concurrent requests for one counter share one store call and admit exactly the limit',
    async (algorithm) => {
      await clearOfHour()
      const s = store()
      const table = new LeaseTable(s, 5_000)
      const prefix = unique()
      const results = await Promise.all(
        Array.from({ length: 200 }, () => table.take(rule(50, algorithm), prefix, 'alice')),
      )
      expect(admittedCount(results)).toBe(50)
      expect(results.every((r) => r.failure === null)).toBe(true)
      expect(s.leases).toBe(1)
    },
  )

  it('a burst reaching the limiter over time costs at most 3 store calls', async () => {
    const s = store()
    // A store round trip of a network store (Upstash from the edge is several ms): the waves
    // arrive while a lease is in flight, as they do in production. Without it, how many waves a
    // local call outlasts depends on the machine's load, not on the lease design.
    s.delayMs = 20
    const table = new LeaseTable(s, 5_000)
    const prefix = unique()
    const pending: (Taken | Promise<Taken>)[] = []
    // 200 requests in 20 waves a millisecond apart, as a burst reaches the limiter behind authentication.
    for (let wave = 0; wave < 20; wave++) {
      for (let i = 0; i < 10; i++) pending.push(table.take(rule(1_000_000_000), prefix, 'alice'))
      await sleep(1)
    }
    const results = await Promise.all(pending)
    expect(admittedCount(results)).toBe(200)
    expect(s.leases).toBeLessThanOrEqual(3)
  })

  it('a hot counter costs at most 20 store calls per 1,000 admitted requests', async () => {
    const s = store()
    const table = new LeaseTable(s, 5_000)
    const prefix = unique()
    let admitted = 0
    for (let i = 0; i < 1000; i++) {
      const taken = await table.take(rule(1_000_000_000), prefix, 'alice')
      if (taken.kind === 'ok') admitted++
      if (i % 50 === 0) await sleep(0)
    }
    expect(admitted).toBe(1000)
    expect(s.leases).toBeLessThanOrEqual(20)
  })

  it('a caller seen rarely takes no headroom: each request is one exact store call', async () => {
    const s = store()
    const table = new LeaseTable(s, 5_000)
    const prefix = unique()
    await table.take(rule(10), prefix, 'alice')
    await sleep(LEASE_HORIZON_MS + 100)
    await table.take(rule(10), prefix, 'alice')
    expect(s.requests.map((r) => r.extra)).toEqual([0, 0])
  })

  it("refuses from memory until the store said capacity frees, with the store's retry time", async () => {
    await clearOfHour()
    const s = store()
    const table = new LeaseTable(s, 5_000)
    const prefix = unique()
    const first = await Promise.all(Array.from({ length: 5 }, () => table.take(rule(5), prefix, 'alice')))
    expect(admittedCount(first)).toBe(5)
    const calls = s.leases
    const later = await Promise.all(Array.from({ length: 100 }, () => table.take(rule(5), prefix, 'alice')))
    expect(admittedCount(later)).toBe(0)
    expect(s.leases).toBe(calls)
    const hourEnd = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000
    expect(
      later.every(
        (r) =>
          r.kind === 'refused' &&
          r.refusal.retryAt === hourEnd &&
          r.refusal.resetAt === hourEnd &&
          r.refusal.remaining === 0,
      ),
    ).toBe(true)
  })
})

describe('what store_timeout measures', () => {
  it('the store call, not time spent behind other requests in the isolate', async () => {
    await clearOfHour()
    const s = store()
    // Every call takes 60% of the timeout; requests that arrive during a call wait for it and then
    // for the next one, longer than the timeout, which must not count against the store.
    s.delayMs = 300
    const table = new LeaseTable(s, 500)
    const prefix = unique()
    const pending: (Taken | Promise<Taken>)[] = []
    for (let wave = 0; wave < 6; wave++) {
      for (let i = 0; i < 50; i++) pending.push(table.take(rule(250), prefix, 'alice'))
      await sleep(100)
    }
    const results = await Promise.all(pending)
    expect(results.filter((r) => r.failure !== null)).toEqual([])
    expect(admittedCount(results)).toBe(250)
  })
})

describe('when the store fails', () => {
  it('on_error: local spends the lease, then admits at most localLimit in the isolate, and charges them when the store is back', async () => {
    await clearOfHour()
    const s = store()
    const table = new LeaseTable(s, 100)
    const prefix = unique()
    const r = rule(40, 'fixed_window', 'local', 10)
    // A lease from a healthy store: 1 + headroom once the counter is hot.
    await table.take(r, prefix, 'alice')
    await table.take(r, prefix, 'alice')
    const leased = s.requests.length
    s.fault = 'reject'
    const during = await Promise.all(Array.from({ length: 100 }, () => table.take(r, prefix, 'alice')))
    const admittedDuring = admittedCount(during)
    expect(
      admittedDuring,
      JSON.stringify({ during: during.map((t) => [t.kind, t.failure?.problem ?? null]), requests: s.requests }),
    ).toBeGreaterThanOrEqual(10)
    expect(admittedDuring).toBeLessThanOrEqual(10 + 40)
    expect(during.every((t) => t.kind === 'ok' || t.failure !== null)).toBe(true)
    expect(s.requests.length - leased).toBeLessThanOrEqual(1)
    // The store answers again: the next call carries what the isolate admitted on its own.
    s.fault = 'none'
    await sleep(STORE_FAILURE_BACKOFF_MS + 50)
    const after = await table.take(r, prefix, 'alice')
    expect(after.failure).toBeNull()
    // The lease's unspent units were admitted first; the 10 beyond it are charged.
    expect(s.requests.at(-1)?.adjust?.units).toBe(-10)
  })

  it.each<[RateLimitOnError, boolean]>([
    ['allow', true],
    ['deny', false],
  ])('on_error: %s decides every waiting request when the store hangs', async (onError, allowed) => {
    const s = store()
    s.fault = 'hang'
    const table = new LeaseTable(s, 50)
    const started = Date.now()
    const results = await Promise.all(
      Array.from({ length: 20 }, () => table.take(rule(5, 'fixed_window', onError), unique(), 'alice')),
    )
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(results.every((t) => t.kind === (allowed ? 'ok' : 'refused') && t.failure?.timedOut === true)).toBe(true)
  })

  it('issue 12 item 11: a store call that throws synchronously ends in on_error, with no timer left behind', async () => {
    const rejections: unknown[] = []
    const listener = (event: PromiseRejectionEvent): void => void rejections.push(event.reason)
    addEventListener('unhandledrejection', listener)
    try {
      for (const onError of ['allow', 'deny', 'local'] as const) {
        const s = store()
        s.fault = 'throw'
        const table = new LeaseTable(s, 30)
        const taken = await table.take(rule(5, 'fixed_window', onError, 2), unique(), 'alice')
        expect(taken.failure?.problem).toBe('the client could not be used')
        expect(taken.kind).toBe(onError !== 'deny' ? 'ok' : 'refused')
      }
      await sleep(100)
      expect(rejections).toEqual([])
    } finally {
      removeEventListener('unhandledrejection', listener)
    }
  })

  it('a late answer to a timed-out call becomes the lease', async () => {
    await clearOfHour()
    const s = store()
    s.delayMs = 150
    const table = new LeaseTable(s, 50)
    const prefix = unique()
    const r = rule(100, 'fixed_window', 'deny')
    const first = await table.take(r, prefix, 'alice')
    expect(first.failure?.timedOut).toBe(true)
    await sleep(300)
    // Still inside the backoff: the granted unit is spent without asking the store again.
    const second = await table.take(r, prefix, 'alice')
    expect(second).toMatchObject({ kind: 'ok', failure: null })
    expect(s.leases).toBe(1)
  })
})

describe('memory', () => {
  it('issue 12 item 12: the per-isolate counter table (refusal cache included) is bounded by entries', async () => {
    await clearOfHour()
    const s = store()
    const table = new LeaseTable(s, 5_000, 20)
    const prefix = unique()
    // 60 distinct callers each refused (limit 1, two requests): each refusal is remembered, but
    // never more than 20 counters at once.
    for (let i = 0; i < 60; i++) {
      await table.take(rule(1), prefix, `caller-${i}`)
      expect((await table.take(rule(1), prefix, `caller-${i}`)).kind).toBe('refused')
      expect(table.size).toBeLessThanOrEqual(20)
    }
    // A forgotten refusal is asked of the store again, which still refuses.
    const before = s.leases
    expect((await table.take(rule(1), prefix, 'caller-0')).kind).toBe('refused')
    expect(s.leases).toBe(before + 1)
  }, 20_000)
})
