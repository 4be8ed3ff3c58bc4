/**
 * The three rate-limit algorithms as pure functions of (state, now), for the Durable Object
 * store. They mirror the Lua scripts of `@upstash/ratelimit` 2.2 line by line (fixed window:
 * count every request, admit while count ≤ limit; sliding window: weight the previous window by
 * the part of it still inside the sliding window, do not count refused requests; token bucket:
 * whole refills per elapsed window), so the two stores give the same answers for the same rules.
 *
 * @module
 */
import type { RateLimitAlgorithm } from '../policy/types.ts'
import type { RateLimitOutcome } from './types.ts'

export type CounterState =
  | { algorithm: 'fixed_window' | 'sliding_window'; window: number; current: number; previous: number }
  | { algorithm: 'token_bucket'; refilledAt: number; tokens: number }

export interface Step {
  outcome: RateLimitOutcome
  state: CounterState
  /** Unix ms after which the state no longer matters and may be deleted. */
  expiresAt: number
}

export function countRequest(
  algorithm: RateLimitAlgorithm,
  limit: number,
  windowMs: number,
  now: number,
  previous: CounterState | null,
): Step {
  switch (algorithm) {
    case 'fixed_window':
      return fixedWindow(limit, windowMs, now, previous)
    case 'sliding_window':
      return slidingWindow(limit, windowMs, now, previous)
    case 'token_bucket':
      return tokenBucket(limit, windowMs, now, previous)
  }
}

function windowCounts(windowMs: number, now: number, state: CounterState | null): { window: number; current: number; previous: number } {
  const window = Math.floor(now / windowMs)
  if (state === null || state.algorithm === 'token_bucket') return { window, current: 0, previous: 0 }
  if (state.window === window) return { window, current: state.current, previous: state.previous }
  if (state.window === window - 1) return { window, current: 0, previous: state.current }
  return { window, current: 0, previous: 0 }
}

function fixedWindow(limit: number, windowMs: number, now: number, state: CounterState | null): Step {
  const { window, current } = windowCounts(windowMs, now, state)
  const count = current + 1
  const resetAt = (window + 1) * windowMs
  return {
    outcome: { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetAt },
    state: { algorithm: 'fixed_window', window, current: count, previous: 0 },
    expiresAt: resetAt,
  }
}

function slidingWindow(limit: number, windowMs: number, now: number, state: CounterState | null): Step {
  const counts = windowCounts(windowMs, now, state)
  const resetAt = (counts.window + 1) * windowMs
  const weightedPrevious = Math.floor((1 - (now % windowMs) / windowMs) * counts.previous)
  const next: CounterState = { algorithm: 'sliding_window', ...counts }
  if (weightedPrevious + counts.current >= limit) {
    return { outcome: { allowed: false, limit, remaining: 0, resetAt }, state: next, expiresAt: resetAt + windowMs }
  }
  next.current += 1
  return {
    outcome: { allowed: true, limit, remaining: Math.max(0, limit - (next.current + weightedPrevious)), resetAt },
    state: next,
    expiresAt: resetAt + windowMs,
  }
}

function tokenBucket(limit: number, windowMs: number, now: number, state: CounterState | null): Step {
  let refilledAt = now
  let tokens = limit
  if (state !== null && state.algorithm === 'token_bucket') {
    refilledAt = state.refilledAt
    tokens = state.tokens
  }
  if (now >= refilledAt + windowMs) {
    const refills = Math.floor((now - refilledAt) / windowMs)
    tokens = Math.min(limit, tokens + refills * limit)
    refilledAt += refills * windowMs
  }
  const resetAt = refilledAt + windowMs
  if (tokens < 1) {
    return { outcome: { allowed: false, limit, remaining: 0, resetAt }, state: { algorithm: 'token_bucket', refilledAt, tokens }, expiresAt: resetAt }
  }
  const remaining = tokens - 1
  return {
    outcome: { allowed: true, limit, remaining, resetAt },
    state: { algorithm: 'token_bucket', refilledAt, tokens: remaining },
    // Full again after this many refills; until then the state matters.
    expiresAt: refilledAt + Math.ceil((limit - remaining) / limit) * windowMs,
  }
}
