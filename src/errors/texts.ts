/**
 * What a client is told, per problem: the words of each token, envelope, denial and MCP body
 * problem, and the JSON-RPC code of the last. Tables, so that a new problem without its words
 * fails the type check; `problem.ts` renders them.
 *
 * @module
 */
import { JSON_RPC_ERRORS, type McpBodyProblem } from '../http/json-rpc.ts'
import type { AcceptedMethod } from '../policy/types.ts'
import type { DenyingList, EnvelopeProblem, TokenProblem } from './reasons.ts'

export const METHOD_NAMES: Record<AcceptedMethod, string> = {
  api_key: 'API key',
  bearer: 'bearer token',
  session: 'session',
  envelope: 'signed request',
}

export const TOKEN_TEXT: Record<TokenProblem, string> = {
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet.',
  inactive: 'The token is not active.',
  issued_in_future: 'The token is not valid yet.',
  // One text for the rest: which check failed is for the log, not for a token forger.
  malformed: 'The token is not valid for this pack.',
  issuer_unknown: 'The token is not valid for this pack.',
  audience: 'The token is not valid for this pack.',
  algorithm: 'The token is not valid for this pack.',
  signature: 'The token is not valid for this pack.',
  key_unknown: 'The token is not valid for this pack.',
  type: 'The token is not valid for this pack.',
  claims: 'The token is not valid for this pack.',
  issued_after_expiry: 'The token is not valid for this pack.',
  // Telling the holder lets a legitimate client find out why; it helps no forger.
  claim_too_large: 'The token carries a claim larger than the gateway accepts.',
  id_reserved: 'The token is not valid for this pack.',
}

export const ENVELOPE_TEXT: Record<EnvelopeProblem, string> = {
  too_old: 'The signature has expired.',
  expired: 'The signature has expired.',
  created_future: "The signature was created in the future; check the signer's clock.",
  replayed: 'The signature has been used before.',
  components_missing: 'The signature does not cover what this pack requires (see Accept-Signature).',
  nonce_missing: 'The signature needs a nonce (see Accept-Signature).',
  created_missing: 'The signature needs a created parameter (see Accept-Signature).',
  digest_missing: 'A request with a body needs a Content-Digest (sha-256 or sha-512) covered by the signature.',
  agent_not_origin: 'Signature-Agent must name the key directory by its origin alone (scheme, host and port).',
  ambiguous: 'More than one signature by a known signer was presented; send exactly one.',
  // One text for the rest: which check failed is for the log, not for a forger.
  malformed: 'The request signature is not valid for this pack.',
  signer_unknown: 'The request signature is not valid for this pack.',
  algorithm: 'The request signature is not valid for this pack.',
  component_invalid: 'The request signature is not valid for this pack.',
  signature: 'The request signature is not valid for this pack.',
  delegation_refused: 'The request signature is not valid for this pack.',
  delegation_reserved: 'The delegated user name starts with a prefix reserved for other kinds of invoker.',
}

export const DENIAL_TEXT: Record<DenyingList, (agent: string | null) => string> = {
  pack_deny: () => "Denied by the pack's deny list.",
  pack_allow: () => "The invoker is not on the pack's allow list.",
  agent_deny: (agent) => `Denied by the deny list of agent ${agent}.`,
  agent_allow: (agent) => `The invoker is not on the allow list of agent ${agent}.`,
  tool_deny: () => "Denied by a tool's deny list.",
  tool_allow: () => "The invoker is not on a tool's allow list.",
  tool_default: () => "The pack's policy does not name the tool.",
}

export const TOOL_DENIAL_TEXT: Record<DenyingList, string> = {
  pack_deny: "denied by the pack's deny list",
  pack_allow: "not on the pack's allow list",
  agent_deny: "denied by the agent's deny list",
  agent_allow: "not on the agent's allow list",
  tool_deny: "denied by the tool's deny list",
  tool_allow: "not on the tool's allow list",
  tool_default: "the pack's policy does not name this tool",
}

export const MCP_BODY_TEXT: Record<McpBodyProblem, string> = {
  too_large: 'The JSON-RPC message is larger than this MCP pack reads.',
  not_utf8: 'The body is not UTF-8.',
  not_json: 'The body is not JSON.',
  duplicate_member: 'The JSON names a member twice (RFC 7493 §2.3).',
  batch: 'JSON-RPC batches are not part of MCP 2025-11-25; send one message per request.',
  not_a_message: 'The body is not a JSON-RPC message.',
  tool_name_missing: 'tools/call needs params.name, a tool name.',
  name_too_long: 'The method or the tool name is longer than an MCP pack takes (256 characters).',
}

export const MCP_BODY_CODE: Record<McpBodyProblem, number> = {
  too_large: JSON_RPC_ERRORS.server,
  not_utf8: JSON_RPC_ERRORS.parse,
  not_json: JSON_RPC_ERRORS.parse,
  duplicate_member: JSON_RPC_ERRORS.parse,
  batch: JSON_RPC_ERRORS.invalidRequest,
  not_a_message: JSON_RPC_ERRORS.invalidRequest,
  tool_name_missing: JSON_RPC_ERRORS.invalidParams,
  name_too_long: JSON_RPC_ERRORS.invalidParams,
}
