/**
 * Step 4: rate limits (SPEC §5). Every rule of the pack that applies to the request counts it,
 * all concurrently (one store round trip each, pipelined by the Upstash client); all must
 * admit it. A store that fails or outlasts `store_timeout` leaves the decision to the rule's
 * `on_error`: `allow` serves and logs, `deny` answers 503.
 *
 * Runs after authorization, so refused callers do not spend anyone's budget.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { sha256Hex } from '../../keys/digest.ts'
import type { CompiledPolicy, CompiledRateLimit } from '../../policy/types.ts'
import { storeFor } from '../../store/index.ts'
import { StoreUnavailableError, withTimeout, type GatewayStore, type RateLimitOutcome } from '../../store/types.ts'
import { clientAddress } from '../authenticate/anonymous.ts'
import { rateLimitHeaders, secondsUntil } from './headers.ts'
import { applicableRules, keyValue, type RateLimitSubject } from './rules.ts'

type Counted = { rule: CompiledRateLimit; outcome: RateLimitOutcome } | { rule: CompiledRateLimit; failure: StoreUnavailableError }

export const rateLimit = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> => {
  const timeoutMs = policy.gateway.storeTimeoutMs
  return async function rateLimit(c, next) {
    const { pack, agent } = c.get('route')
    if (pack.rateLimits.length === 0) return next()
    const subject: RateLimitSubject = {
      pack,
      agent,
      authentication: c.get('authentication'),
      method: c.req.method,
      clientAddress: clientAddress(c.req.raw.headers),
      tool: c.get('mcp')?.tool ?? null,
    }
    const rules = applicableRules(subject)
    const store = storeFor(c.env)
    const results = await Promise.all(
      rules.map(async (rule): Promise<Counted | null> => {
        const value = keyValue(rule, subject)
        if (value === null) return null
        // A digest, not the value: ids and addresses stay out of the store's keys.
        return count(store, rule, `${pack.id}:${rule.id}:${(await sha256Hex(value)).slice(0, 32)}`, timeoutMs)
      }),
    )
    const now = Date.now()
    const counted: { rule: CompiledRateLimit; outcome: RateLimitOutcome }[] = []
    let refusal: { rule: CompiledRateLimit; resetAt: number } | null = null
    for (const result of results) {
      if (result === null) continue
      if ('failure' in result) {
        c.set('storeFailure', { rule: result.rule.id, onError: result.rule.onError, timedOut: result.failure.timedOut })
        if (result.rule.onError === 'deny') throw new GatewayError({ reason: 'store_unavailable', rule: result.rule.id })
        continue
      }
      counted.push(result)
      if (!result.outcome.allowed && (refusal === null || result.outcome.resetAt > refusal.resetAt)) {
        refusal = { rule: result.rule, resetAt: result.outcome.resetAt }
      }
    }
    c.set('rateLimitHeaders', rateLimitHeaders(rules, counted, now))
    if (refusal !== null) {
      throw new GatewayError({ reason: 'rate_limited', rule: refusal.rule.id, retryAfterSeconds: Math.max(1, secondsUntil(refusal.resetAt, now)) })
    }
    await next()
  }
}

async function count(store: GatewayStore | null, rule: CompiledRateLimit, counter: string, timeoutMs: number): Promise<Counted> {
  if (store === null) return { rule, failure: new StoreUnavailableError('no store is configured', false) }
  try {
    const outcome = await withTimeout(() => store.limit({ counter, algorithm: rule.algorithm, limit: rule.limit, windowMs: rule.windowMs }), timeoutMs)
    return { rule, outcome }
  } catch (error) {
    return { rule, failure: error instanceof StoreUnavailableError ? error : new StoreUnavailableError(String(error), false) }
  }
}
