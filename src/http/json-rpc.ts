/**
 * JSON-RPC 2.0 as MCP packs speak it: what the gateway knows of a message (the MCP step reads
 * it; X-Invoker, rate limits and the log line use it) and the error response a refused call is
 * answered with (the error renderer writes it).
 *
 * @module
 */

/** JSON-RPC 2.0 §4: a string, a number, or null. */
export type JsonRpcId = string | number | null

/** What the gateway knows of one MCP message (for the decision, X-Invoker, rate limits and the log). */
export interface McpCall {
  /** `null` for a JSON-RPC response (the client answering a server's request). */
  method: string | null
  /** The tool of a `tools/call`; `null` otherwise. */
  tool: string | null
  /** The request's id; `undefined` for a notification or a response. */
  id: JsonRpcId | undefined
}

/** Why a body is not one JSON-RPC message the gateway can judge. */
export type McpBodyProblem =
  | 'too_large'
  | 'not_utf8'
  | 'not_json'
  | 'duplicate_member'
  | 'batch'
  | 'not_a_message'
  | 'tool_name_missing'
  | 'name_too_long'

/** JSON-RPC 2.0 §5.1 error codes (and the SDK's server-defined one for a body too large). */
export const JSON_RPC_ERRORS = {
  parse: -32700,
  invalidRequest: -32600,
  invalidParams: -32602,
  internal: -32603,
  server: -32000,
} as const

/** A JSON-RPC error response (JSON-RPC 2.0 §5), as the body of an HTTP answer. */
export function errorMessage(
  id: JsonRpcId | undefined,
  code: number,
  message: string,
  data: Record<string, unknown>,
): string {
  return JSON.stringify({ jsonrpc: '2.0', id: id ?? null, error: { code, message, data } })
}
