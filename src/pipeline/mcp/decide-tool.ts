/**
 * The tool decision, pure like `decide()` (shared with `explain` and the policy fixtures): the
 * pack's (and agent's) lists have already admitted the caller; every `tools.names` entry whose
 * glob matches the tool then narrows that, deny winning; a tool no entry names gets the
 * policy's `default`. Globs go through the rules' own compiled patterns and matcher, so tool
 * names and rule values are matched alike. Tool names are compared with their case
 * (MCP 2025-11-25: "Tool names SHOULD be considered case-sensitive").
 *
 * @module
 */
import type { Reason } from '../../errors/reasons.ts'
import type { JsonRpcId } from '../../http/json-rpc.ts'
import type { Authentication } from '../../invoker.ts'
import { firstMatch, patternMatches, type Decision } from '../../policy/rules.ts'
import type { CompiledToolPolicy } from '../../policy/types.ts'

/** A tool is called by a POST; rules with `method` are held against that, whichever request lists it. */
const CALL_METHOD = 'POST'

export function decideTool(tools: CompiledToolPolicy, authn: Authentication, tool: string): Decision {
  let named = false
  let admittedBy: string | null = null
  for (const entry of tools.entries) {
    if (!patternMatches(entry.pattern, tool)) continue
    named = true
    const denied = firstMatch(entry.deny, authn, CALL_METHOD)
    if (denied) return { allowed: false, list: 'tool_deny', rule: denied.ref }
    if (entry.allow) {
      const allowed = firstMatch(entry.allow, authn, CALL_METHOD)
      if (!allowed) return { allowed: false, list: 'tool_allow', rule: null }
      admittedBy = allowed.ref
    }
  }
  if (!named && tools.default === 'deny') return { allowed: false, list: 'tool_default', rule: null }
  return { allowed: true, rule: admittedBy }
}

/** The refusal of a denied tools/call: what the MCP step answers with and explain reports. */
export function toolRefusal(
  decision: Extract<Decision, { allowed: false }>,
  tool: string,
  id: JsonRpcId | undefined,
): Extract<Reason, { reason: 'tool_denied' }> {
  return { reason: 'tool_denied', tool, list: decision.list, rule: decision.rule, id }
}

/** Whether the caller may call each tool of a list, each name decided once. */
export function toolAllowance(tools: CompiledToolPolicy, authn: Authentication): (tool: string) => boolean {
  const decided = new Map<string, boolean>()
  return (tool) => {
    let allowed = decided.get(tool)
    if (allowed === undefined) {
      allowed = decideTool(tools, authn, tool).allowed
      decided.set(tool, allowed)
    }
    return allowed
  }
}
