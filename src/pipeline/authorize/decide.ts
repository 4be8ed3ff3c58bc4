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
import type { DenyingList, Reason } from '../../errors/reasons.ts'
import type { Authentication, JsonValue } from '../../invoker.ts'
import type { CompiledAgent, CompiledCondition, CompiledPack, CompiledPattern, CompiledRule } from '../../policy/types.ts'
import { globMatches } from './glob.ts'

export type Decision =
  | { allowed: true; rule: string | null }
  | { allowed: false; list: DenyingList; rule: string | null }

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

/** The first rule of a list that matches (MCP tool lists use it too: one rule language). */
export function firstMatch(rules: readonly CompiledRule[], authn: Authentication, method: string): CompiledRule | null {
  for (const rule of rules) if (rule.conditions.every((c) => conditionHolds(c, authn, method))) return rule
  return null
}

function conditionHolds(condition: CompiledCondition, authn: Authentication, method: string): boolean {
  const { field } = condition
  const { invoker } = authn
  let value: JsonValue | undefined
  let ignoreCase = false
  if (field === 'id') value = invoker.id
  else if (field === 'kind') value = invoker.kind
  else if (field === 'label') value = invoker.label
  else if (field === 'api_key') value = authn.auth.api_key
  else if (field === 'on_behalf_of') value = authn.auth.on_behalf_of
  else if (field === 'method') {
    value = method
    ignoreCase = true
  } else if (field === 'email') {
    value = invoker.meta['email']
    ignoreCase = true
  } else value = metaPath(invoker.meta, field.slice('meta.'.length))
  if (value === undefined || value === null) return false
  const candidates = Array.isArray(value) ? value : [value]
  for (const candidate of candidates) {
    if (typeof candidate === 'object' && candidate !== null) continue
    // Folded once per value; the compiler folded the patterns of these fields.
    const text = ignoreCase ? String(candidate).toLowerCase() : String(candidate)
    for (const pattern of condition.patterns) if (patternMatches(pattern, text)) return true
  }
  return false
}

function metaPath(meta: Record<string, JsonValue>, path: string): JsonValue | undefined {
  let node: JsonValue | undefined = meta
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined
    node = node[key]
  }
  return node
}

/** Exact or glob; `text` and the pattern are already lower-case for fields compared without case. */
export function patternMatches(pattern: CompiledPattern, text: string): boolean {
  return 'exact' in pattern ? pattern.exact === text : globMatches(pattern.glob, text)
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
  if (authn.auth.method === 'anonymous' && pack.auth.length > 0) return { reason: 'anonymous_denied', accepted: pack.auth }
  return { reason: 'denied', list: decision.list, rule: decision.rule, agent: agent?.name ?? null }
}
