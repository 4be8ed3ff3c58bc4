/**
 * The authorization decision, as a pure function of (compiled pack, agent, authentication,
 * request method). No I/O, no clock: the Worker, the CLI's `explain` and the policy fixtures
 * call this same function, so they cannot disagree.
 *
 * Deny wins over allow; a pack with an allow list admits only what matches it; an agent's lists
 * apply on top of the pack's, so they can only narrow (SPEC §4).
 *
 * @module
 */
import type { Reason } from '../../errors/reasons.ts'
import type { Authentication } from '../../invoker.ts'
import { firstMatch, type Decision } from '../../policy/rules.ts'
import type { CompiledAgent, CompiledPack } from '../../policy/types.ts'

export type { Decision }

export function decide(
  pack: CompiledPack,
  agent: CompiledAgent | null,
  authn: Authentication,
  method: string,
): Decision {
  const denied = firstMatch(pack.deny, authn, method)
  if (denied) return { allowed: false, list: 'pack_deny', rule: denied.ref }
  if (agent) {
    const agentDenied = firstMatch(agent.deny, authn, method)
    if (agentDenied) return { allowed: false, list: 'agent_deny', rule: agentDenied.ref }
  }
  let admittedBy: string | null = null
  if (pack.allow) {
    const allowed = firstMatch(pack.allow, authn, method)
    if (!allowed) return { allowed: false, list: 'pack_allow', rule: null }
    admittedBy = allowed.ref
  }
  if (agent?.allow) {
    const allowed = firstMatch(agent.allow, authn, method)
    if (!allowed) return { allowed: false, list: 'agent_allow', rule: null }
    admittedBy = allowed.ref
  }
  return { allowed: true, rule: admittedBy }
}

/**
 * What a decision means for the request: `null` when it is allowed, else the reason enforce mode
 * refuses it with (report mode forwards it and logs this reason). An anonymous caller that is
 * refused is asked to authenticate (401) where the pack accepts a method, rather than told it is
 * forbidden.
 */
export function refusalFor(
  pack: CompiledPack,
  agent: CompiledAgent | null,
  authn: Authentication,
  decision: Decision,
): Reason | null {
  if (decision.allowed) return null
  if (authn.auth.method === 'anonymous' && pack.auth.length > 0)
    return { reason: 'anonymous_denied', accepted: pack.auth }
  return { reason: 'denied', list: decision.list, rule: decision.rule, agent: agent?.name ?? null }
}
