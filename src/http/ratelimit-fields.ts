/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10), as RFC 8941
 * structured lists serialized by `structured-headers`:
 *
 *   RateLimit-Policy: "per-invoker";q=60;w=60, "anon-ip";q=10;w=60
 *   RateLimit: "per-invoker";r=12;t=41
 *
 * `RateLimit` names the rule closest to its limit (the smallest remaining share), which is the
 * one a client must pace itself by.
 *
 * @module
 */
import { serializeItem } from 'structured-headers'
import type { CompiledConcurrency, CompiledRateLimit } from '../policy/types.ts'
import type { RateLimitAdmission } from '../store/types.ts'

export interface RateLimitHeaders {
  policy: string
  current: string
  /** Remaining share (remaining / limit) of the rule `current` names; 1 when none. */
  share: number
}

const policyItems = new WeakMap<CompiledRateLimit, string>()
const ruleNames = new WeakMap<CompiledRateLimit | CompiledConcurrency, string>()

/** `"id";q=<limit>;w=<window s>`, serialized once per rule and isolate. */
export function policyItem(rule: CompiledRateLimit): string {
  let item = policyItems.get(rule)
  if (item === undefined) {
    item = serializeItem(
      rule.id,
      new Map([
        ['q', rule.limit],
        ['w', rule.windowMs / 1000],
      ]),
    )
    policyItems.set(rule, item)
  }
  return item
}

/**
 * `"id";r=<remaining>;t=<seconds>`: the rule's name serialized once per rule and isolate, then
 * the two parameters appended by hand, since non-negative integers serialize as plain decimals
 * (RFC 8941 §4.1.4) and this runs on every request of a limited route.
 */
function currentItem(rule: CompiledRateLimit, remaining: number, seconds: number): string {
  let name = ruleNames.get(rule)
  if (name === undefined) {
    name = serializeItem(rule.id)
    ruleNames.set(rule, name)
  }
  return `${name};r=${Math.max(0, Math.floor(remaining))};t=${seconds}`
}

export function secondsUntil(resetAt: number, now: number): number {
  return Math.max(0, Math.ceil((resetAt - now) / 1000))
}

export function rateLimitHeaders(
  rules: readonly CompiledRateLimit[],
  counted: readonly { rule: CompiledRateLimit; outcome: RateLimitAdmission }[],
  now: number,
): RateLimitHeaders | undefined {
  if (rules.length === 0) return undefined
  const policy = rules.map(policyItem).join(', ')
  let closest: { rule: CompiledRateLimit; outcome: RateLimitAdmission } | undefined
  for (const entry of counted) {
    if (
      closest === undefined ||
      entry.outcome.remaining / entry.outcome.limit < closest.outcome.remaining / closest.outcome.limit
    )
      closest = entry
  }
  const current =
    closest === undefined
      ? ''
      : currentItem(closest.rule, closest.outcome.remaining, secondsUntil(closest.outcome.resetAt, now))
  return { policy, current, share: closest === undefined ? 1 : closest.outcome.remaining / closest.outcome.limit }
}

const concurrencyItems = new WeakMap<CompiledConcurrency, string>()

/**
 * A concurrency rule in the same fields (draft-ietf-httpapi-ratelimit-headers-10 §3.1.2): its
 * quota unit is `concurrent-requests` and it has no window; its `RateLimit` item has no `t`
 * (a slot frees when a request ends, which no clock says). The rule closest to its limit, of
 * either kind, is the one `RateLimit` names.
 */
export function withConcurrency(
  headers: RateLimitHeaders | undefined,
  rules: readonly CompiledConcurrency[],
  counted: readonly { rule: CompiledConcurrency; open: number }[],
): RateLimitHeaders | undefined {
  if (rules.length === 0) return headers
  let policy = headers?.policy ?? ''
  for (const rule of rules) {
    let item = concurrencyItems.get(rule)
    if (item === undefined) {
      item = serializeItem(
        rule.id,
        new Map<string, number | string>([
          ['q', rule.limit],
          ['qu', 'concurrent-requests'],
        ]),
      )
      concurrencyItems.set(rule, item)
    }
    policy = policy === '' ? item : `${policy}, ${item}`
  }
  let current = headers?.current ?? ''
  let share = headers === undefined || headers.current === '' ? Infinity : headers.share
  for (const { rule, open } of counted) {
    const remaining = Math.max(0, rule.limit - open)
    if (remaining / rule.limit < share) {
      share = remaining / rule.limit
      let name = ruleNames.get(rule)
      if (name === undefined) {
        name = serializeItem(rule.id)
        ruleNames.set(rule, name)
      }
      current = `${name};r=${remaining}`
    }
  }
  return { policy, current, share: share === Infinity ? 1 : share }
}

export function applyRateLimitHeaders(headers: Headers, values: RateLimitHeaders | undefined): void {
  if (values === undefined) return
  headers.set('ratelimit-policy', values.policy)
  if (values.current !== '') headers.set('ratelimit', values.current)
}
