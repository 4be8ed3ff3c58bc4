/**
 * The JSON-RPC 2.0 shapes an MCP pack's requests carry (MCP 2025-11-25, "Transports": every POST
 * body is one JSON-RPC request, notification or response) and what the gateway reads of them:
 * the method, the id, and for `tools/call` the tool's name (`McpCall`, in http/json-rpc.ts). Pure.
 *
 * @module
 */
import { MCP_MAX_NAME_LENGTH } from '../../constants.ts'
import type { JsonRpcId, McpBodyProblem, McpCall } from '../../http/json-rpc.ts'
import { hasDuplicateMember } from './i-json.ts'

export type ParsedMessage = { ok: true; call: McpCall } | { ok: false; problem: McpBodyProblem; id: JsonRpcId | null }

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Reads one message from a body's bytes. Strict where a lenient reader could be fooled into
 * judging another message than the server runs:
 *
 * - the bytes must be UTF-8 (MCP 2025-11-25 "Transports") without a byte order mark (RFC 8259 §8.1);
 * - no member name may repeat (I-JSON, RFC 7493 §2.3): parsers disagree on which of two `name`s
 *   counts, and the gateway must read the one the server will;
 * - a batch (a JSON array) is refused: 2025-11-25 has none ("the body MUST be a single JSON-RPC
 *   request, notification, or response"), while servers that still take the 2025-03-26 batches
 *   (the SDK's does) would run members the gateway did not judge one by one.
 */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return { ok: false, problem: 'not_utf8', id: null }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, problem: 'not_json', id: null }
  }
  if (hasDuplicateMember(text)) return { ok: false, problem: 'duplicate_member', id: null }
  if (Array.isArray(value)) return { ok: false, problem: 'batch', id: null }
  if (typeof value !== 'object' || value === null) return { ok: false, problem: 'not_a_message', id: null }
  const message = value as Record<string, unknown>
  const id = message['id']
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number')
    return { ok: false, problem: 'not_a_message', id: null }
  const method = message['method']
  if (method === undefined) return { ok: true, call: { method: null, tool: null, id: undefined } }
  if (typeof method !== 'string') return { ok: false, problem: 'not_a_message', id: id ?? null }
  if (method.length > MCP_MAX_NAME_LENGTH) return { ok: false, problem: 'name_too_long', id: id ?? null }
  if (method !== 'tools/call') return { ok: true, call: { method, tool: null, id } }
  const params = message['params']
  const name =
    typeof params === 'object' && params !== null && !Array.isArray(params)
      ? (params as Record<string, unknown>)['name']
      : undefined
  if (typeof name !== 'string' || name === '') return { ok: false, problem: 'tool_name_missing', id: id ?? null }
  if (name.length > MCP_MAX_NAME_LENGTH) return { ok: false, problem: 'name_too_long', id: id ?? null }
  return { ok: true, call: { method, tool: name, id } }
}
