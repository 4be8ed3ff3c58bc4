/**
 * The rule language of policy lists (SPEC §4): a rule holds when each of its conditions matches
 * the invoker (or the request's method), exactly or by glob. Pure. Pack and agent lists
 * (authorize), tool lists (mcp) and `when: { tool }` of rate limits all match through here, so
 * one rule means one thing wherever it is written.
 *
 * @module
 */
import type { DenyingList } from '../errors/reasons.ts'
import type { Authentication, JsonValue } from '../invoker.ts'
import { globMatches } from './glob.ts'
import type { CompiledCondition, CompiledPattern, CompiledRule } from './types.ts'

/** What a list (or a tool policy) decided, and the rule behind it (`null` when no rule admitted by name). */
export type Decision =
  | { allowed: true; rule: string | null }
  | { allowed: false; list: DenyingList; rule: string | null }

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
