import { describe, expect, it } from 'vitest'
import { countRequest, type CounterState } from './algorithms.ts'
import type { RateLimitAlgorithm } from '../policy/types.ts'

function run(algorithm: RateLimitAlgorithm, limit: number, windowMs: number, times: number[]): { allowed: boolean; remaining: number; resetAt: number }[] {
  let state: CounterState | null = null
  return times.map((now) => {
    const step = countRequest(algorithm, limit, windowMs, now, state)
    state = step.state
    return { allowed: step.outcome.allowed, remaining: step.outcome.remaining, resetAt: step.outcome.resetAt }
  })
}

describe('fixed window', () => {
  it('admits the limit per window and resets at the boundary', () => {
    const out = run('fixed_window', 2, 1000, [10, 20, 30, 999, 1000, 1001])
    expect(out.map((o) => o.allowed)).toEqual([true, true, false, false, true, true])
    expect(out[0]?.resetAt).toBe(1000)
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
    const out = run('sliding_window', 1, 1000, [0, 1, 2, 1000])
    // window 1 sees previous=1 at weight 1 → still full at exactly the boundary.
    expect(out.map((o) => o.allowed)).toEqual([true, false, false, false])
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
  })
})
