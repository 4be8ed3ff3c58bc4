import { describe, expect, it } from 'vitest'
import { LEASE_HEADROOM_DIVISOR } from '../constants.ts'
import type { RateLimitAlgorithm } from '../policy/types.ts'
import { grantOf, leaseStep, type Adjustment, type CounterState } from './algorithms.ts'
import type { LeaseGrant } from './types.ts'

/** One request at a time (want 1, no headroom): the algorithms as they were before leases. */
function run(
  algorithm: RateLimitAlgorithm,
  limit: number,
  windowMs: number,
  times: number[],
): { allowed: boolean; remaining: number; resetAt: number; retryAt: number }[] {
  let state: CounterState | null = null
  return times.map((now) => {
    const step = leaseStep(
      { algorithm, limit, windowMs, now, want: 1, extra: 0, adjust: null, divisor: LEASE_HEADROOM_DIVISOR },
      state,
    )
    state = step.state
    return {
      allowed: step.grant.granted === 1,
      remaining: step.grant.remaining,
      resetAt: step.grant.resetAt,
      retryAt: step.grant.retryAt,
    }
  })
}

class Counter {
  state: CounterState | null = null
  readonly algorithm: RateLimitAlgorithm
  readonly limit: number
  readonly windowMs: number
  constructor(algorithm: RateLimitAlgorithm, limit: number, windowMs: number) {
    this.algorithm = algorithm
    this.limit = limit
    this.windowMs = windowMs
  }
  lease(now: number, want: number, extra = 0, adjust: Adjustment | null = null): LeaseGrant {
    const step = leaseStep(
      {
        algorithm: this.algorithm,
        limit: this.limit,
        windowMs: this.windowMs,
        now,
        want,
        extra,
        adjust,
        divisor: LEASE_HEADROOM_DIVISOR,
      },
      this.state,
    )
    this.state = step.state
    return step.grant
  }
}

describe('fixed window', () => {
  it('admits the limit per window and resets at the boundary', () => {
    const out = run('fixed_window', 2, 1000, [10, 20, 30, 999, 1000, 1001])
    expect(out.map((o) => o.allowed)).toEqual([true, true, false, false, true, true])
    expect(out[0]?.resetAt).toBe(1000)
    expect(out[1]?.retryAt).toBe(1000)
    expect(out[4]?.resetAt).toBe(2000)
  })
})

describe('sliding window', () => {
  it('weights the previous window by the part of it still inside the slide', () => {
    // 4 in window 0; at 1500 half of them (2) still count, so 2 more fit.
    const out = run('sliding_window', 4, 1000, [100, 200, 300, 400, 1500, 1500, 1500])
    expect(out.map((o) => o.allowed)).toEqual([true, true, true, true, true, true, false])
    expect(out.map((o) => o.remaining)).toEqual([3, 2, 1, 0, 1, 0, 0])
  })

  it('does not count refused requests (as @upstash/ratelimit does not)', () => {
    const out = run('sliding_window', 1, 1000, [0, 1, 2, 1000, 1001])
    // window 1 sees previous=1 at weight 1 → still full at exactly the boundary, free 1 ms later.
    expect(out.map((o) => o.allowed)).toEqual([true, false, false, false, true])
    expect(out[1]?.retryAt).toBe(1001)
  })

  it('names the first millisecond at which a full window admits again', () => {
    // 10 in window 0, then 5 at 1500 (weight of 10 is 5): full. Weight drops below 5 after 1600.
    const counter = new Counter('sliding_window', 10, 1000)
    counter.lease(100, 10)
    const full = counter.lease(1500, 5)
    expect(full).toMatchObject({ granted: 5, remaining: 0, retryAt: 1501 })
    // retryAt is exact: refused just before it, admitted at it.
    const probe = new Counter('sliding_window', 10, 1000)
    probe.lease(100, 10)
    probe.lease(1500, 4)
    const full2 = probe.lease(1550, 2)
    expect(full2).toMatchObject({ granted: 2, remaining: 0, retryAt: 1601 })
    const at = (now: number): number =>
      leaseStep(
        { algorithm: 'sliding_window', limit: 10, windowMs: 1000, now, want: 1, extra: 0, adjust: null, divisor: 2 },
        probe.state,
      ).grant.granted
    expect(at(1600)).toBe(0)
    expect(at(1601)).toBe(1)
  })

  it('forgets windows older than the previous one', () => {
    const out = run('sliding_window', 1, 1000, [0, 2500])
    expect(out.map((o) => o.allowed)).toEqual([true, true])
  })
})

describe('token bucket', () => {
  it('starts full, refills whole windows, and never exceeds the limit', () => {
    const out = run('token_bucket', 2, 1000, [0, 1, 2, 999, 1000, 1001, 1002, 5000, 5001, 5002])
    expect(out.map((o) => o.allowed)).toEqual([true, true, false, false, true, true, false, true, true, false])
    expect(out[2]?.resetAt).toBe(1000)
    expect(out[2]?.retryAt).toBe(1000)
  })
})

describe('leases', () => {
  it('grant what is wanted plus headroom of at most half of what would be left', () => {
    expect(grantOf(100, 1, 128, 2)).toBe(1 + 49)
    expect(grantOf(100, 1, 10, 2)).toBe(11)
    expect(grantOf(3, 1, 128, 2)).toBe(2)
    expect(grantOf(2, 1, 128, 2)).toBe(1)
    expect(grantOf(1, 5, 128, 2)).toBe(1)
    expect(grantOf(0, 5, 128, 2)).toBe(0)
  })

  it.each<RateLimitAlgorithm>(['fixed_window', 'sliding_window', 'token_bucket'])(
    '%s: never grants beyond the limit, however leases are asked for',
    (algorithm) => {
      const counter = new Counter(algorithm, 50, 60_000)
      let granted = 0
      for (const [want, extra] of [
        [1, 0],
        [3, 128],
        [10, 5],
        [40, 128],
        [1, 1],
        [7, 0],
      ] as const)
        granted += counter.lease(1000, want, extra).granted
      expect(granted).toBe(50)
      expect(counter.lease(1001, 1, 128)).toMatchObject({ granted: 0, remaining: 0 })
    },
  )

  it.each<RateLimitAlgorithm>(['fixed_window', 'sliding_window', 'token_bucket'])(
    '%s: units given back are as if never taken',
    (algorithm) => {
      const counter = new Counter(algorithm, 10, 60_000)
      const lease = counter.lease(1000, 2, 128)
      expect(lease.granted).toBe(2 + 4)
      // 1 spent, 5 back: 9 left.
      const next = counter.lease(2000, 1, 0, { epoch: lease.epoch, units: 5 })
      expect(next).toMatchObject({ granted: 1, remaining: 8 })
    },
  )

  it.each<RateLimitAlgorithm>(['fixed_window', 'sliding_window', 'token_bucket'])(
    '%s: units admitted without the store are charged',
    (algorithm) => {
      const counter = new Counter(algorithm, 10, 60_000)
      const first = counter.lease(1000, 1)
      expect(counter.lease(2000, 1, 0, { epoch: first.epoch, units: -6 })).toMatchObject({ granted: 1, remaining: 2 })
    },
  )

  it('a sliding window takes back units of the previous window at their weight', () => {
    const counter = new Counter('sliding_window', 10, 1000)
    const old = counter.lease(100, 1, 128)
    expect(old.granted).toBe(5)
    // At 1500, 5 in the previous window weigh 2; with 4 of them given back, 1 weighs 0.
    expect(counter.lease(1500, 1, 0).remaining).toBe(10 - 2 - 1)
    expect(counter.lease(1500, 1, 0, { epoch: old.epoch, units: 4 }).remaining).toBe(10 - 0 - 2)
  })

  it('a token bucket lease ends at the next refill, and tokens given back later are capped', () => {
    const counter = new Counter('token_bucket', 4, 1000)
    const lease = counter.lease(0, 1, 128)
    expect(lease).toMatchObject({ granted: 2, remaining: 2, epoch: 0, epochEnds: 1000 })
    // After a refill the bucket is full again; giving back 1 cannot overfill it.
    expect(counter.lease(1500, 1, 0, { epoch: lease.epoch, units: 1 })).toMatchObject({
      granted: 1,
      remaining: 3,
      epoch: 1000,
    })
  })
})
