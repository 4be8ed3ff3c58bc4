/**
 * Which of a pack's rate-limit and concurrency rules count a request, and under which key. Pure,
 * so that unit tests and `explain` can ask without a store; the rate-limit and streams steps
 * both read it.
 *
 * @module
 */
import type { Authentication, JsonValue } from '../invoker.ts'
import { patternMatches } from './rules.ts'
import type { CompiledAgent, CompiledPack, CompiledRateLimit } from './types.ts'

export interface RateLimitSubject {
  pack: CompiledPack
  agent: CompiledAgent | null
  authentication: Authentication
  method: string
  /** The client address's key (client-address.ts): an IPv4 address, an IPv6 address's /64. */
  addressKey: string | null
  /** MCP packs: the tool of a tools/call (`when: { tool }`, `by: tool`). */
  tool?: string | null
}

export function applicableRules(subject: RateLimitSubject): CompiledRateLimit[] {
  return rulesThatApply(subject.pack.rateLimits, subject)
}

/** The rules (rate limits or concurrency rules) whose `when` holds for the request. */
export function rulesThatApply<R extends Pick<CompiledRateLimit, 'when'>>(
  rules: readonly R[],
  subject: RateLimitSubject,
): R[] {
  const { agent, authentication, method } = subject
  return rules.filter(({ when }) => {
    const kind = authentication.invoker.kind
    if (when.kinds !== null && !when.kinds.some((pattern) => patternMatches(pattern, kind))) return false
    if (when.methods !== null && !when.methods.includes(method)) return false
    if (when.agents !== null && (agent === null || !when.agents.includes(agent.name))) return false
    // Tool globs go through the rules' own matcher; a request that calls no tool is not counted.
    if (when.tools != null) {
      const tool = subject.tool
      if (tool == null || !when.tools.some((pattern) => patternMatches(pattern, tool))) return false
    }
    return true
  })
}

/**
 * The value a rule counts under, or `null` when the request has none (an `api_key` rule and a
 * bearer caller; a `meta.org` rule and an invoker without an org): such a rule does not apply.
 * Values are tagged by source so that, say, an invoker id and an address never share a counter.
 */
export function keyValue(rule: Pick<CompiledRateLimit, 'by'>, subject: RateLimitSubject): string | null {
  const { invoker, auth } = subject.authentication
  switch (rule.by) {
    case 'invoker':
      return 'i:' + invoker.id
    case 'ip':
      return subject.addressKey === null ? null : 'a:' + subject.addressKey
    case 'pack':
      return 'p:'
    case 'agent':
      return 'g:' + (subject.agent?.name ?? '')
    case 'api_key':
      return auth.api_key === undefined ? null : 'k:' + auth.api_key
    case 'org':
      return metaValue(invoker.meta['org'])
    case 'tool':
      return subject.tool == null ? null : 't:' + subject.tool
    default:
      return metaValue(invoker.meta[rule.by.slice('meta.'.length)])
  }
}

function metaValue(value: JsonValue | undefined): string | null {
  if (value === undefined || value === null || typeof value === 'object') return null
  return 'm:' + String(value)
}
