/**
 * One JSON line per request (SPEC §8), with fixed fields so that log queries do not parse
 * messages. Built only from ids, kinds and reason codes: no credential, token or body can
 * reach it.
 *
 * @module
 */
import { LOG_MAX_URL_PART } from './constants.ts'
import type { DegradedInput } from './degraded.ts'
import { statusOf } from './errors/problem.ts'
import type { AuthMethod, InvokerKind } from './invoker.ts'
import type { Reason, ReasonCode } from './errors/reasons.ts'
import type { RequestState } from './state.ts'

export interface RequestLogLine {
  request_id: string
  /** The W3C trace the request belongs to: the client's `traceparent`, or one the gateway started. */
  trace_id: string
  method: string
  host: string
  path: string
  pack: string | null
  agent: string | null
  invoker_id: string | null
  invoker_kind: InvokerKind | null
  auth_method: AuthMethod | null
  api_key: string | null
  decision: 'allow' | 'deny' | 'would_deny' | 'error'
  reason: ReasonCode | 'allowed' | null
  rule: string | null
  /** The detail of a failed token or session check (`expired`, `JWKS endpoint timed out`…). */
  problem: string | null
  /** Set when a rate-limit store call failed: which rule, and whether its on_error let the request through. */
  store_error: { rule: string; on_error: 'local' | 'allow' | 'deny'; timed_out: boolean } | null
  /** Inputs the decision rested on that were less than fresh (stale keys, a cached answer, a failed store call); `null` when none. */
  degraded: DegradedInput[] | null
  /** MCP packs: the JSON-RPC method of the request, and the tool of a tools/call. */
  mcp_method: string | null
  mcp_tool: string | null
  status: number
  duration_ms: number
  /** Of `duration_ms`, the backend's wait for response headers; `null` when the request was not forwarded. */
  upstream_ms: number | null
}

export function writeLogLine(line: RequestLogLine): void {
  console.log(logText(line))
}

/**
 * Characters JSON leaves as they are but a log viewer or terminal acts on: line and paragraph
 * separators (a viewer breaks the line there, so a caller's tool name could start a fake line),
 * C1 controls (terminal escapes) and bidirectional overrides (text shown reordered).
 */
const VIEWER_CONTROLS = /[\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** One JSON line, with the characters above escaped as `\uXXXX` (still the same JSON value). */
export function logText(line: object): string {
  const text = JSON.stringify(line)
  VIEWER_CONTROLS.lastIndex = 0
  if (!VIEWER_CONTROLS.test(text)) return text
  return text.replace(VIEWER_CONTROLS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The request's line, from what its steps recorded and the status it was answered with. */
export function requestLogLine(s: RequestState, status: number): RequestLogLine {
  const { route, authentication, decision, failure, wouldDeny, storeFailure } = s
  // What refused the request, or what enforce mode would have refused it with (report mode).
  const refusal = failure ?? wouldDeny
  return {
    request_id: s.requestId,
    trace_id: s.trace.traceId,
    method: s.request.method,
    host: bounded(s.url.host),
    path: bounded(s.url.pathname),
    pack: route?.pack.id ?? null,
    agent: route?.agent?.name ?? null,
    invoker_id: authentication?.invoker.id ?? null,
    invoker_kind: authentication?.invoker.kind ?? null,
    auth_method: authentication?.auth.method ?? null,
    api_key: authentication?.auth.api_key ?? null,
    decision: failure
      ? refusing(failure) || statusOf(failure) === 401 || statusOf(failure) === 403
        ? 'deny'
        : 'error'
      : wouldDeny || (decision && !decision.allowed)
        ? 'would_deny'
        : 'allow',
    reason: failure?.reason ?? wouldDeny?.reason ?? (decision && !decision.allowed ? 'denied' : 'allowed'),
    rule: refusal !== null && refusing(refusal) ? refusal.rule : (decision?.rule ?? null),
    // Why a token or session failed or its source was unavailable (never the credential itself).
    problem: failure && 'problem' in failure ? (failure.problem ?? null) : null,
    store_error: storeFailure
      ? { rule: storeFailure.rule, on_error: storeFailure.onError, timed_out: storeFailure.timedOut }
      : null,
    degraded: s.degraded,
    mcp_method: s.mcp?.method ?? null,
    mcp_tool: s.mcp?.tool ?? null,
    status,
    duration_ms: Date.now() - s.started,
    upstream_ms: s.upstreamMs,
  }
}

/** A caller-chosen part of the URL, cut to what a log line keeps. */
function bounded(part: string): string {
  return part.length <= LOG_MAX_URL_PART ? part : part.slice(0, LOG_MAX_URL_PART) + '…'
}

/** The refusals a policy rule decides: they name the rule. */
function refusing(
  reason: Reason,
): reason is Extract<Reason, { reason: 'denied' | 'tool_denied' | 'rate_limited' | 'concurrency_limited' }> {
  return (
    reason.reason === 'denied' ||
    reason.reason === 'tool_denied' ||
    reason.reason === 'rate_limited' ||
    reason.reason === 'concurrency_limited'
  )
}

/**
 * The second line a guarded stream writes, when it ends (issue 15): an SSE answer or a
 * WebSocket, whose request line was written when its response headers went out. The fields it
 * shares with the request line mean the same; `event` tells the two apart.
 */
export interface StreamEndLine {
  event: 'stream_end'
  request_id: string
  trace_id: string
  pack: string
  agent: string | null
  invoker_id: string
  invoker_kind: InvokerKind
  /** `sse` or `websocket`. */
  stream: 'sse' | 'websocket'
  reason: StreamEndReason
  /** For `revoked_mid_stream`, the recheck's refusal (`api_key_revoked`, `session_invalid`…); for `recheck_unavailable`, what failed. */
  problem: string | null
  /** How long the stream was open, from its response headers to its end. */
  duration_ms: number
  /** Rechecks of the credential while the stream was open, and how many of them could not be answered. */
  rechecks: number
  recheck_errors: number
}

/**
 * Why a stream ended: the gateway closed it (`revoked_mid_stream`, `recheck_unavailable` with
 * `streams.on_error: deny`, `max_duration`, `idle_timeout`), or one side did.
 */
export type StreamEndReason =
  | 'revoked_mid_stream'
  | 'recheck_unavailable'
  | 'max_duration'
  | 'idle_timeout'
  | 'client_closed'
  | 'backend_closed'
  | 'backend_error'

export function writeStreamEndLine(line: StreamEndLine): void {
  console.log(logText(line))
}
