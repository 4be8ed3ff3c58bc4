/**
 * The three rate-limit algorithms as one pure function of (state, now): take a lease of up to
 * `want + extra` units from a counter. The Durable Object store runs it on its stored state, the
 * isolate's degraded limiter on its own, and `lease-script.ts` is the same function in Lua for
 * Redis, so the stores give the same answers for the same rules (a test runs both on the same
 * inputs against a real redis-server).
 *
 * Semantics are `@upstash/ratelimit` 2.2's, counted in leases:
 *
 * - fixed window: at most `limit` units per window of `windowMs` (aligned to the epoch);
 * - sliding window: the previous window's count weighted by the part of it still inside the
 *   sliding window, plus the current count, stays at most `limit`; refused requests do not count;
 * - token bucket: a bucket of `limit` tokens, refilled by `limit` for every whole window elapsed.
 *
 * A lease grants the units the caller needs now (`want`) if they are there (else all that are
 * there), plus headroom: at most `extra`, and at most 1/LEASE_HEADROOM_DIVISOR of what would be
 * left, so leases shrink near the limit. Units granted count at once, as if spent; unspent ones
 * come back through `adjust` (positive), and requests an isolate admitted while the store was
 * down are charged through it (negative). Adjusting the window a lease came from is exact: the
 * counter ends as if those units had never been taken (or had been taken then). A fixed window
 * ignores adjustments to an older window (they no longer matter); a sliding window applies them
 * to the previous window too; a token bucket applies them whenever they come (refills are capped
 * at `limit`, so giving tokens back later is the same as never taking them).
 *
 * @module
 */
import type { RateLimitAlgorithm } from '../policy/types.ts'
import type { Adjustment, LeaseGrant } from './types.ts'

export type { Adjustment }

export type CounterState =
  | { algorithm: 'fixed_window'; window: number; current: number }
  | { algorithm: 'sliding_window'; window: number; current: number; previous: number }
  | { algorithm: 'token_bucket'; refilledAt: number; tokens: number }

export interface LeaseInput {
  algorithm: RateLimitAlgorithm
  limit: number
  windowMs: number
  now: number
  /** Units needed now (the requests waiting); at least 1. */
  want: number
  /** Further units wanted as headroom. */
  extra: number
  adjust: Adjustment | null
  /** Headroom is at most 1/divisor of what would be left after `want`. */
  divisor: number
}

export interface Step {
  grant: LeaseGrant
  state: CounterState
  /** Unix ms after which the state no longer matters and may be deleted. */
  expiresAt: number
}

export function leaseStep(input: LeaseInput, previous: CounterState | null): Step {
  switch (input.algorithm) {
    case 'fixed_window':
      return fixedWindow(input, previous)
    case 'sliding_window':
      return slidingWindow(input, previous)
    case 'token_bucket':
      return tokenBucket(input, previous)
  }
}

/** `want` when it is there (else all there is), plus the headroom the store can spare. */
export function grantOf(available: number, want: number, extra: number, divisor: number): number {
  if (available <= want) return Math.max(0, available)
  return want + Math.min(extra, Math.floor((available - want) / divisor))
}

function fixedWindow(input: LeaseInput, state: CounterState | null): Step {
  const { limit, windowMs, now, want, extra, adjust, divisor } = input
  const epoch = Math.floor(now / windowMs)
  let count = state !== null && state.algorithm === 'fixed_window' && state.window === epoch ? state.current : 0
  if (adjust !== null && adjust.epoch === epoch) count = Math.max(0, count - adjust.units)
  const granted = grantOf(Math.max(0, limit - count), want, extra, divisor)
  count += granted
  const resetAt = (epoch + 1) * windowMs
  const remaining = Math.max(0, limit - count)
  return {
    grant: { granted, remaining, resetAt, retryAt: remaining === 0 ? resetAt : now, epoch, epochEnds: resetAt },
    state: { algorithm: 'fixed_window', window: epoch, current: count },
    expiresAt: resetAt,
  }
}

function slidingWindow(input: LeaseInput, state: CounterState | null): Step {
  const { limit, windowMs, now, want, extra, adjust, divisor } = input
  const epoch = Math.floor(now / windowMs)
  let current = 0
  let previous = 0
  if (state !== null && state.algorithm === 'sliding_window') {
    if (state.window === epoch) {
      current = state.current
      previous = state.previous
    } else if (state.window === epoch - 1) previous = state.current
  }
  if (adjust !== null) {
    if (adjust.epoch === epoch) current = Math.max(0, current - adjust.units)
    else if (adjust.epoch === epoch - 1) previous = Math.max(0, previous - adjust.units)
  }
  const weighted = Math.floor((1 - (now % windowMs) / windowMs) * previous)
  const granted = grantOf(Math.max(0, limit - weighted - current), want, extra, divisor)
  current += granted
  const resetAt = (epoch + 1) * windowMs
  const remaining = Math.max(0, limit - weighted - current)
  return {
    grant: {
      granted,
      remaining,
      resetAt,
      retryAt: remaining === 0 ? slidingRetryAt(limit, windowMs, now, epoch, current, previous) : now,
      epoch,
      epochEnds: resetAt,
    },
    state: { algorithm: 'sliding_window', window: epoch, current, previous },
    // The window after next no longer sees this one.
    expiresAt: resetAt + windowMs,
  }
}

/**
 * The first millisecond at which a full sliding window admits one more: when the previous
 * window's weight, floor((1 - x/W)·p), drops below what the current count leaves (x = ms into
 * the window). With the current window itself full, that is in the next window, where this
 * window's count becomes the previous one. Integer-first arithmetic, the same as the Lua script.
 */
function slidingRetryAt(
  limit: number,
  windowMs: number,
  now: number,
  epoch: number,
  current: number,
  previous: number,
): number {
  if (current >= limit) return (epoch + 1) * windowMs + Math.floor((windowMs * (current - limit)) / current) + 1
  // Never before the next millisecond, whatever the rounding of the weight above.
  return Math.max(now + 1, epoch * windowMs + Math.floor((windowMs * (previous - limit + current)) / previous) + 1)
}

function tokenBucket(input: LeaseInput, state: CounterState | null): Step {
  const { limit, windowMs, now, want, extra, adjust, divisor } = input
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
  if (adjust !== null && adjust.units !== 0) tokens = Math.min(limit, Math.max(0, tokens + adjust.units))
  const granted = grantOf(tokens, want, extra, divisor)
  tokens -= granted
  const resetAt = refilledAt + windowMs
  return {
    grant: {
      granted,
      remaining: tokens,
      resetAt,
      retryAt: tokens === 0 ? resetAt : now,
      epoch: refilledAt,
      epochEnds: resetAt,
    },
    state: { algorithm: 'token_bucket', refilledAt, tokens },
    // Full again after this many refills; until then the state matters.
    expiresAt: refilledAt + Math.ceil((limit - tokens) / limit) * windowMs,
  }
}
