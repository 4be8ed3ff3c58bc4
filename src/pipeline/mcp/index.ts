/**
 * Step 3b (MCP packs): what the JSON-RPC message asks, and whether this caller may. A body is
 * read (a clone of it, within the pack's limit; the backend still receives the original bytes)
 * for its method and, for `tools/call`, its tool; the tool's lists then narrow the pack's. A
 * refused call is answered as an MCP server answers a call it cannot run: a JSON-RPC error. For a
 * `tools/list` (and the GET stream, where a resumed list may come), the answer is filtered on its
 * way back so that each caller sees only the tools it may call. A protocol upgrade (WebSocket)
 * is refused: its messages would pass none of this.
 *
 * The message's method and tool go to the X-Invoker token (`mcp` claim), the rate limits
 * (`when: { tool }`, `by: tool`) and the log line. Report mode logs a refused tool and forwards.
 *
 * @module
 */
import { MCP_MAX_TOOL_LIST_BYTES } from '../../constants.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { hasBody } from '../../http/request.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import type { Authenticated } from '../../state.ts'
import { readMessage } from './body.ts'
import { decideTool, toolAllowance, toolRefusal } from './decide-tool.ts'
import { filteredResponse } from './tool-list.ts'

export const mcp = (policy: CompiledPolicy) => {
  const idleMs = policy.gateway.uploadIdleTimeoutMs
  return (s: Authenticated): Promise<Authenticated> => decideMessage(s, idleMs)
}

async function decideMessage(s: Authenticated, idleMs: number): Promise<Authenticated> {
  const { pack } = s.route
  const settings = pack.mcp
  if (settings === null) return s
  const request = s.request
  // Messages on a socket would pass every check below: MCP packs speak HTTP only.
  if (request.headers.has('upgrade')) throw new GatewayError({ reason: 'mcp_upgrade_refused' })
  if (hasBody(request)) {
    const parsed = await readMessage(request, settings.maxBodyBytes, idleMs)
    if (!parsed.ok) throw new GatewayError({ reason: 'mcp_body_invalid', problem: parsed.problem, id: parsed.id })
    s.mcp = parsed.call
  }
  const call = s.mcp
  const tools = settings.tools
  if (tools === null) return s
  const authentication = s.authentication
  if (call?.tool != null) {
    const decision = decideTool(tools, authentication, call.tool)
    if (!decision.allowed) {
      const refusal = toolRefusal(decision, call.tool, call.id)
      if (pack.mode !== 'report') throw new GatewayError(refusal)
      // Report mode: forwarded, and logged as what enforce mode would have refused.
      s.wouldDeny ??= refusal
    }
  }
  const listing = call?.method === 'tools/list'
  if (pack.mode === 'enforce' && (listing || request.method === 'GET')) {
    const filter = {
      allowed: toolAllowance(tools, authentication),
      maxBytes: MCP_MAX_TOOL_LIST_BYTES,
      id: call?.id,
      expectsList: listing,
    }
    s.answerTransform = (upstream) => filteredResponse(upstream, filter)
  }
  return s
}
