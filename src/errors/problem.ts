/**
 * RFC 9457 problem+json rendering of a {@link Reason}. The `switch` is exhaustive: a new reason
 * does not compile until it has a status and a client-facing text.
 *
 * @module
 */
import { MIN_ADMIN_TOKEN_LENGTH } from '../constants.ts'
import { errorMessage, JSON_RPC_ERRORS, type JsonRpcId } from '../http/json-rpc.ts'
import type { AcceptedMethod } from '../policy/types.ts'
import { type BearerParameters, type Challenge, challenges } from './challenges.ts'
import type { Reason } from './reasons.ts'
import {
  DENIAL_TEXT,
  ENVELOPE_TEXT,
  MCP_BODY_CODE,
  MCP_BODY_TEXT,
  METHOD_NAMES,
  TOKEN_TEXT,
  TOOL_DENIAL_TEXT,
} from './texts.ts'

export const PROBLEM_TYPE_BASE = 'urn:invoker-gateway:problem:'

interface Wire extends BearerParameters {
  status: number
  slug: string
  title: string
  detail: string
  /** The schemes a 401 names in `WWW-Authenticate`: a pack's accepted methods, or the admin endpoint's. */
  challenge?: AcceptedMethod[] | 'admin'
  retryAfterSeconds?: number
  /**
   * MCP packs: the answer is a JSON-RPC error response (JSON-RPC 2.0 §5) with the request's id,
   * which MCP clients show as the failed request's error, rather than problem+json.
   */
  jsonRpc?: { id: JsonRpcId | undefined; code: number }
}

function toWire(r: Reason): Wire {
  switch (r.reason) {
    case 'route_not_found':
      return { status: 404, slug: 'not-found', title: 'Not Found', detail: 'No pack is routed at this host and path.' }
    case 'bad_path':
      return {
        status: 400,
        slug: 'bad-path',
        title: 'Bad Request',
        detail: `The request path was refused: ${r.problem}.`,
      }
    case 'credential_missing':
      return unauthenticated('This pack requires authentication.', r.accepted)
    case 'anonymous_denied':
      return unauthenticated('Anonymous callers may not call this; authenticate.', r.accepted)
    case 'credential_ambiguous':
      return unauthenticated('More than one credential was presented; send exactly one.', r.accepted, 'invalid_request')
    case 'method_not_accepted':
      return unauthenticated(
        r.method === 'unknown_scheme'
          ? 'The Authorization scheme is not supported.'
          : `This pack does not accept ${METHOD_NAMES[r.method]} credentials.`,
        r.accepted,
        'invalid_token',
      )
    case 'credential_too_large':
      return unauthenticated('The credential is too large.', r.accepted, 'invalid_request')
    case 'api_key_malformed':
    case 'api_key_unknown':
    case 'api_key_mismatch':
    case 'api_key_wrong_pack':
      // One text for all of them: which check failed is for the log, not for a key guesser.
      return unauthenticated('The API key is not valid for this pack.', r.accepted, 'invalid_token')
    case 'api_key_revoked':
      return unauthenticated('The API key has been revoked.', r.accepted, 'invalid_token')
    case 'api_key_expired':
      return unauthenticated('The API key has expired.', r.accepted, 'invalid_token')
    case 'bearer_invalid': {
      const detail = TOKEN_TEXT[r.problem]
      return { ...unauthenticated(detail, r.accepted, 'invalid_token'), bearerDescription: detail }
    }
    case 'issuer_unavailable':
      return {
        status: 503,
        slug: 'issuer-unavailable',
        title: 'Service Unavailable',
        detail: "The token issuer's keys cannot be fetched right now; try again shortly.",
        retryAfterSeconds: 5,
      }
    case 'insufficient_scope':
      return {
        status: 403,
        slug: 'insufficient-scope',
        title: 'Forbidden',
        detail: r.anyOf
          ? `The token needs one of the scopes: ${r.scopes.join(', ')}.`
          : `The token lacks the scopes: ${r.scopes.join(', ')}.`,
        challenge: ['bearer'],
        bearerError: 'insufficient_scope',
        scope: r.scopes.join(' '),
      }
    case 'session_invalid':
      return unauthenticated('The session is not valid; sign in again.', r.accepted)
    case 'session_unavailable':
      return {
        status: 503,
        slug: 'session-unavailable',
        title: 'Service Unavailable',
        detail: 'Sessions cannot be checked right now; try again shortly.',
        retryAfterSeconds: 5,
      }
    case 'csrf_refused':
      return {
        status: 403,
        slug: 'csrf',
        title: 'Forbidden',
        detail: 'A cookie-authenticated request from an untrusted origin was refused (CSRF protection).',
      }
    case 'envelope_invalid':
      return unauthenticated(ENVELOPE_TEXT[r.problem], r.accepted)
    case 'envelope_unavailable':
      return {
        status: 503,
        slug: 'signer-unavailable',
        title: 'Service Unavailable',
        detail: "The signer's keys cannot be checked right now; try again shortly.",
        retryAfterSeconds: 5,
      }
    case 'content_digest_mismatch':
      return unauthenticated('The body does not match its Content-Digest.', r.accepted)
    case 'body_too_large':
      return {
        status: 413,
        slug: 'content-too-large',
        title: 'Content Too Large',
        detail: `The request body is larger than this endpoint takes (${r.limitBytes} bytes).`,
      }
    case 'body_unreadable':
      return {
        status: 400,
        slug: 'bad-request',
        title: 'Bad Request',
        detail: 'The request body ended before it was complete.',
      }
    case 'method_override_invalid':
      return {
        status: 400,
        slug: 'bad-request',
        title: 'Bad Request',
        detail: `The method override was refused: ${r.problem}.`,
      }
    case 'method_not_allowed':
      return {
        status: 405,
        slug: 'method-not-allowed',
        title: 'Method Not Allowed',
        detail:
          r.method === 'TRACE' || r.method === 'TRACK'
            ? `${r.method} is not forwarded: it would echo the request, X-Invoker included, to the client.`
            : `${r.method} is not allowed on the gateway's own endpoint.`,
      }
    case 'no_client_address':
      return unauthenticated('The caller has no client address to identify it anonymously; authenticate.', r.accepted)
    case 'denied':
      return {
        status: 403,
        slug: 'forbidden',
        title: 'Forbidden',
        detail: DENIAL_TEXT[r.list](r.agent),
      }
    case 'mcp_body_invalid':
      return {
        status: r.problem === 'too_large' ? 413 : 400,
        slug: 'bad-mcp-message',
        title: r.problem === 'too_large' ? 'Content Too Large' : 'Bad Request',
        detail: MCP_BODY_TEXT[r.problem],
        jsonRpc: { id: r.id, code: MCP_BODY_CODE[r.problem] },
      }
    case 'mcp_upgrade_refused':
      // MCP's transports are stdio and Streamable HTTP: a WebSocket would carry JSON-RPC messages
      // (tools/call, tools/list) past the tool lists, the answer filter and the mcp claim.
      return {
        status: 400,
        slug: 'bad-request',
        title: 'Bad Request',
        detail: 'An MCP pack takes JSON-RPC over HTTP only; a protocol upgrade (WebSocket) is refused.',
      }
    case 'tool_denied':
      // A request gets its error as its answer (HTTP 200, as an MCP server answers an unknown
      // tool: JSON-RPC -32602); a notification has no answer to carry it, so it gets an HTTP error
      // (MCP 2025-11-25 "Transports": input the server does not accept → an HTTP error status).
      return {
        status: r.id === undefined ? 403 : 200,
        slug: 'tool-forbidden',
        title: 'Forbidden',
        detail: `Tool "${r.tool}" is not available to this caller: ${TOOL_DENIAL_TEXT[r.list]}.`,
        jsonRpc: { id: r.id, code: JSON_RPC_ERRORS.invalidParams },
      }
    case 'tool_list_unfilterable':
      return {
        status: 502,
        slug: 'bad-gateway',
        title: 'Bad Gateway',
        detail: "The MCP server's tool list could not be filtered for this caller, so it is not shown.",
        jsonRpc: { id: r.id, code: JSON_RPC_ERRORS.internal },
      }
    case 'rate_limited':
      return {
        status: 429,
        slug: 'rate-limited',
        title: 'Too Many Requests',
        detail: `Rate limit "${r.rule}" reached; retry after ${r.retryAfterSeconds} s.`,
        retryAfterSeconds: r.retryAfterSeconds,
      }
    case 'concurrency_limited':
      return {
        status: 429,
        slug: 'concurrency-limited',
        title: 'Too Many Requests',
        detail: `Concurrency limit "${r.rule}" reached: too many requests open at once; retry when one has ended.`,
        retryAfterSeconds: r.retryAfterSeconds,
      }
    case 'upload_stalled':
      return {
        status: 408,
        slug: 'request-timeout',
        title: 'Request Timeout',
        detail: `The request body stopped arriving (nothing for ${Math.round(r.idleMs / 1000)} s).`,
      }
    case 'store_unavailable':
      return {
        status: 503,
        slug: 'store-unavailable',
        title: 'Service Unavailable',
        detail: "The gateway's store is unavailable; try again shortly.",
        retryAfterSeconds: 1,
      }
    case 'admin_unauthorized':
      return {
        status: 401,
        slug: 'unauthenticated',
        title: 'Unauthorized',
        detail: 'The admin token is missing or wrong.',
        challenge: 'admin',
      }
    case 'admin_token_weak':
      return {
        status: 503,
        slug: 'not-configured',
        title: 'Service Unavailable',
        detail: `The admin endpoint is off: its token is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters.`,
      }
    case 'admin_bad_request':
      return {
        status: 400,
        slug: 'bad-request',
        title: 'Bad Request',
        detail: `The request was refused: ${r.problem}.`,
      }
    case 'admin_conflict':
      return { status: 409, slug: 'conflict', title: 'Conflict', detail: `The request conflicts: ${r.problem}.` }
    case 'admin_key_not_found':
      return { status: 404, slug: 'not-found', title: 'Not Found', detail: 'No runtime key has this id.' }
    case 'upstream_unreachable':
      return { status: 502, slug: 'bad-gateway', title: 'Bad Gateway', detail: 'The backend could not be reached.' }
    case 'upstream_invalid':
      return {
        status: 502,
        slug: 'bad-gateway',
        title: 'Bad Gateway',
        detail: 'The backend answered with a status HTTP does not define.',
      }
    case 'upstream_timeout':
      return {
        status: 504,
        slug: 'gateway-timeout',
        title: 'Gateway Timeout',
        detail: 'The backend did not answer in time.',
      }
    case 'signing_keys_unavailable':
      return {
        status: 503,
        slug: 'not-configured',
        title: 'Service Unavailable',
        detail: 'The gateway has no usable signing key.',
      }
    case 'internal':
      return {
        status: 500,
        slug: 'internal',
        title: 'Internal Server Error',
        detail: 'The gateway failed unexpectedly.',
      }
  }
}

/**
 * A 401 for a pack. RFC 9110 §15.5.2: a 401 carries at least one challenge, and a pack that
 * accepts no credential method (anonymous callers only) has none to name: there, a presented
 * credential it will not take (or a caller it cannot identify) is a 403 instead.
 */
function unauthenticated(detail: string, challenge: AcceptedMethod[], bearerError?: Wire['bearerError']): Wire {
  if (challenge.length === 0) return { status: 403, slug: 'forbidden', title: 'Forbidden', detail }
  return {
    status: 401,
    slug: 'unauthenticated',
    title: 'Unauthorized',
    detail,
    challenge,
    ...(bearerError ? { bearerError } : {}),
  }
}

/** What a client is told of a reason (the end of a stream says it too). */
export function detailOf(reason: Reason): string {
  return toWire(reason).detail
}

/** Status a reason answers with (used by logs and explain without building a Response). */
export function statusOf(reason: Reason): number {
  return toWire(reason).status
}

export function problemResponse(reason: Reason, requestId: string, challenge: Challenge | null = null): Response {
  const wire = toWire(reason)
  const context = challenge?.context
  const body = {
    type: PROBLEM_TYPE_BASE + wire.slug,
    title: wire.title,
    status: wire.status,
    detail: wire.detail,
    request_id: requestId,
  }
  const headers = new Headers({
    'content-type': wire.jsonRpc ? 'application/json' : 'application/problem+json',
    'cache-control': 'no-store',
    'x-request-id': requestId,
  })
  if (wire.retryAfterSeconds !== undefined) headers.set('retry-after', String(wire.retryAfterSeconds))
  if (wire.challenge) {
    for (const challenge of challenges(wire.challenge, wire, context)) headers.append('www-authenticate', challenge)
  }
  if (wire.status === 401 && challenge?.acceptSignature) headers.set('accept-signature', challenge.acceptSignature())
  const text = wire.jsonRpc
    ? errorMessage(wire.jsonRpc.id, wire.jsonRpc.code, wire.detail, {
        type: body.type,
        title: body.title,
        request_id: requestId,
      })
    : JSON.stringify(body)
  return new Response(text, { status: wire.status, headers })
}
