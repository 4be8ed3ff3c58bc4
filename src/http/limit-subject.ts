/**
 * What the rate-limit and streams steps count a request by: its pack, agent, invoker, method,
 * client address and (on MCP packs) tool, read once from the request's state the same way for
 * both kinds of rule.
 *
 * @module
 */
import type { RateLimitSubject } from '../policy/limit-rules.ts'
import type { Authenticated } from '../state.ts'

export function limitSubject(s: Authenticated): RateLimitSubject {
  return {
    pack: s.route.pack,
    agent: s.route.agent,
    authentication: s.authentication,
    method: s.method,
    addressKey: s.clientAddress?.key ?? null,
    tool: s.mcp?.tool ?? null,
  }
}
