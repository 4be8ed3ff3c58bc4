/**
 * Every way a request can fail, as one tagged union. The internal reason (with its detail) goes
 * to the log; {@link toProblem} collapses it into the stable text a client sees. No variant
 * carries a credential, so nothing here can leak one.
 *
 * @module
 */
import type { JsonRpcId, McpBodyProblem } from '../http/json-rpc.ts'
import type { AcceptedMethod } from '../policy/types.ts'

export type Reason =
  | { reason: 'route_not_found' }
  | { reason: 'bad_path'; problem: string }
  | { reason: 'credential_missing'; accepted: AcceptedMethod[] }
  | { reason: 'anonymous_denied'; accepted: AcceptedMethod[] }
  | { reason: 'credential_ambiguous'; accepted: AcceptedMethod[] }
  | { reason: 'method_not_accepted'; method: AcceptedMethod | 'unknown_scheme'; accepted: AcceptedMethod[] }
  | { reason: 'credential_too_large'; accepted: AcceptedMethod[] }
  | { reason: 'api_key_malformed'; accepted: AcceptedMethod[] }
  | { reason: 'api_key_unknown'; keyId: string; accepted: AcceptedMethod[] }
  | { reason: 'api_key_mismatch'; key: string; accepted: AcceptedMethod[] }
  | { reason: 'api_key_revoked'; key: string; accepted: AcceptedMethod[] }
  | { reason: 'api_key_expired'; key: string; accepted: AcceptedMethod[] }
  | { reason: 'api_key_wrong_pack'; key: string; accepted: AcceptedMethod[] }
  | { reason: 'no_client_address'; accepted: AcceptedMethod[] }
  | { reason: 'bearer_invalid'; problem: TokenProblem; issuer: string | null; accepted: AcceptedMethod[] }
  | { reason: 'issuer_unavailable'; issuer: string; problem: string }
  | { reason: 'insufficient_scope'; scopes: string[]; anyOf: boolean }
  | { reason: 'session_invalid'; accepted: AcceptedMethod[]; problem?: 'claims' | 'claim_too_large' | 'id_reserved' }
  | { reason: 'session_unavailable'; problem: string }
  | { reason: 'csrf_refused'; origin: string | null }
  | { reason: 'envelope_invalid'; problem: EnvelopeProblem; signer: string | null; accepted: AcceptedMethod[] }
  | { reason: 'envelope_unavailable'; problem: string }
  | { reason: 'content_digest_mismatch'; accepted: AcceptedMethod[] }
  | { reason: 'body_too_large'; limitBytes: number }
  | { reason: 'body_unreadable' }
  | { reason: 'method_override_invalid'; problem: string }
  | { reason: 'method_not_allowed'; method: string }
  | { reason: 'denied'; list: DenyingList; rule: string | null; agent: string | null }
  | { reason: 'mcp_body_invalid'; problem: McpBodyProblem; id: JsonRpcId | null }
  | { reason: 'mcp_upgrade_refused' }
  | { reason: 'tool_denied'; tool: string; list: DenyingList; rule: string | null; id: JsonRpcId | undefined }
  | { reason: 'tool_list_unfilterable'; problem: string; id: JsonRpcId | undefined }
  | { reason: 'rate_limited'; rule: string; retryAfterSeconds: number }
  | { reason: 'concurrency_limited'; rule: string; retryAfterSeconds: number }
  | { reason: 'store_unavailable'; rule: string | null }
  | { reason: 'admin_unauthorized' }
  | { reason: 'admin_token_weak' }
  | { reason: 'admin_bad_request'; problem: string }
  | { reason: 'admin_conflict'; problem: string }
  | { reason: 'admin_key_not_found' }
  | { reason: 'upstream_unreachable' }
  | { reason: 'upstream_invalid'; status: number }
  | { reason: 'upstream_timeout'; timeoutMs: number }
  | { reason: 'upload_stalled'; idleMs: number }
  | { reason: 'signing_keys_unavailable'; problem: string }
  | { reason: 'internal' }

/** Why a bearer token was refused (for the log; clients see at most "expired" or "not yet valid"). */
export type TokenProblem =
  | 'malformed'
  | 'issuer_unknown'
  | 'expired'
  | 'not_yet_valid'
  | 'audience'
  | 'algorithm'
  | 'signature'
  | 'key_unknown'
  | 'type'
  | 'claims'
  | 'claim_too_large'
  | 'id_reserved'
  | 'inactive'
  | 'issued_in_future'
  | 'issued_after_expiry'

/** Why a signed request was refused (for the log; clients see a short text). */
export type EnvelopeProblem =
  | 'malformed'
  | 'signer_unknown'
  | 'ambiguous'
  | 'algorithm'
  | 'created_missing'
  | 'created_future'
  | 'too_old'
  | 'expired'
  | 'nonce_missing'
  | 'replayed'
  | 'components_missing'
  | 'component_invalid'
  | 'signature'
  | 'delegation_refused'
  | 'delegation_reserved'
  | 'digest_missing'
  | 'agent_not_origin'

/** Which list refused: enough for the caller to know what to ask for, never the rule itself. */
export type DenyingList =
  | 'pack_deny'
  | 'pack_allow'
  | 'agent_deny'
  | 'agent_allow'
  | 'tool_deny'
  | 'tool_allow'
  | 'tool_default'

export type ReasonCode = Reason['reason']

/** The one error type the pipeline throws; `onError` renders it. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly detail: Reason
  constructor(detail: Reason) {
    super(detail.reason)
    this.detail = detail
  }
}
