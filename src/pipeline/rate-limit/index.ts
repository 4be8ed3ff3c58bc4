/**
 * Step 4: rate limits (SPEC §5). Every rule of the pack that applies to the request counts it;
 * all must admit it. Counting goes through this isolate's lease table (lease-table.ts): most
 * requests are admitted or refused from a lease or a known refusal without a store call, and
 * requests that need the store share one call per counter. A store that fails or outlasts
 * `store_timeout` leaves the decision to the rule's `on_error`: `local` (default) limits in the
 * isolate at a share of the limit, `allow` serves and logs, `deny` answers 503.
 *
 * Runs after authorization, so refused callers do not spend anyone's budget.
 *
 * @module
 */
import { GatewayError } from '../../errors/reasons.ts'
import { rateLimitHeaders, secondsUntil } from '../../http/ratelimit-fields.ts'
import { limitSubject } from '../../http/limit-subject.ts'
import { applicableRules, keyValue } from '../../policy/limit-rules.ts'
import type { CompiledPolicy, CompiledRateLimit } from '../../policy/types.ts'
import type { Authenticated } from '../../state.ts'
import { storeFor, UnavailableStore } from '../../store/index.ts'
import type { GatewayStore, RateLimitAdmission } from '../../store/types.ts'
import { LeaseTable, type Taken } from './lease-table.ts'

const prefixes = new WeakMap<CompiledRateLimit, string>()
/** `<pack>:<rule>:`, built once per rule and isolate (ids cannot contain ':'). */
function counterPrefix(packId: string, rule: CompiledRateLimit): string {
  let prefix = prefixes.get(rule)
  if (prefix === undefined) {
    prefix = `${packId}:${rule.id}:`
    prefixes.set(rule, prefix)
  }
  return prefix
}

/** Without a store, every rule's on_error decides (the degraded limiter, for `local`). */
const NO_STORE = new UnavailableStore('no store is configured')

export const rateLimit = (policy: CompiledPolicy) => {
  const timeoutMs = policy.gateway.storeTimeoutMs
  // One table per store: leases are capacity in that store.
  const tables = new WeakMap<GatewayStore, LeaseTable>()
  const tableFor = (store: GatewayStore): LeaseTable => {
    let table = tables.get(store)
    if (table === undefined) {
      table = new LeaseTable(store, timeoutMs)
      tables.set(store, table)
    }
    return table
  }

  return async function rateLimit(s: Authenticated): Promise<Authenticated> {
    const { pack } = s.route
    if (pack.rateLimits.length === 0) return s
    const subject = limitSubject(s)
    const rules = applicableRules(subject)
    const table = tableFor(storeFor(s.env) ?? NO_STORE)
    const started = Date.now()
    let waiting = false
    const taken = rules.map((rule): Taken | Promise<Taken> | null => {
      const value = keyValue(rule, subject)
      if (value === null) return null
      const result = table.take(rule, counterPrefix(pack.id, rule), value, started)
      if (result instanceof Promise) waiting = true
      return result
    })
    const results = waiting ? await Promise.all(taken) : (taken as (Taken | null)[])
    const now = waiting ? Date.now() : started
    const counted: { rule: CompiledRateLimit; outcome: RateLimitAdmission }[] = []
    let refusal: { rule: CompiledRateLimit; retryAt: number } | null = null
    for (let i = 0; i < rules.length; i++) {
      const result = results[i]
      const rule = rules[i] as CompiledRateLimit
      if (result === null || result === undefined) continue
      const { failure } = result
      if (failure !== null) {
        const timedOut = failure.timedOut === true
        s.storeFailure = { rule: rule.id, onError: rule.onError, timedOut }
        if (rule.onError === 'deny') throw new GatewayError({ reason: 'store_unavailable', rule: rule.id })
        // Decided without the store (issue 17, item 3): uncounted (`allow`) or by the lease and the
        // in-isolate limiter (`local`).
        s.noteDegraded({
          kind: rule.onError === 'allow' ? 'store_error' : 'store_local',
          source: rule.id,
          stale_for: null,
          problem: timedOut ? 'store call timed out' : 'store call failed',
        })
        if (rule.onError === 'allow') continue
      }
      // A refusal is counted too: the RateLimit fields then name its rule, with nothing remaining.
      counted.push({ rule, outcome: result.kind === 'ok' ? result.value : result.refusal })
      if (result.kind === 'refused' && (refusal === null || result.refusal.retryAt > refusal.retryAt))
        refusal = { rule, retryAt: result.refusal.retryAt }
    }
    s.rateLimitFields = rateLimitHeaders(rules, counted, now) ?? null
    if (refusal !== null) {
      throw new GatewayError({
        reason: 'rate_limited',
        rule: refusal.rule.id,
        retryAfterSeconds: Math.max(1, secondsUntil(refusal.retryAt, now)),
      })
    }
    return s
  }
}
