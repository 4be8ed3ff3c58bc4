/**
 * What the backend receives (SPEC §6). Forwarding strips before it adds: hop-by-hop fields,
 * every client-sent X-Invoker* field, the consumed credential, and client-sent forwarding
 * fields go first; then the gateway sets its own.
 *
 * @module
 */
import type { Consumed } from '../authenticate/index.ts'
import { withoutCookie } from '../authenticate/session/cookie.ts'

/** RFC 9110 §7.6.1: connection-specific fields, plus the fields the Connection header names. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** The gateway is the edge: whatever a client says about forwarding is replaced, not appended to. */
const CLIENT_FORWARDING = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'x-request-id', 'host'])

export interface UpstreamHeaderInput {
  invokerHeader: string
  token: string
  requestId: string
  consumed: Consumed
  passCredentials: boolean
  clientAddress: string | null
  proto: string
  host: string
  websocket: boolean
}

export function upstreamHeaders(incoming: Headers, input: UpstreamHeaderInput): Headers {
  const out = new Headers()
  const named = new Set(
    (incoming.get('connection') ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  )
  const dropped = input.passCredentials ? null : new Set(input.consumed.headers)
  const droppedCookie = input.passCredentials ? null : input.consumed.cookie
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.has(name) || named.has(name) || CLIENT_FORWARDING.has(name)) continue
    // Any X-Invoker* field, and anything under the configured header's name: the backend trusts these.
    if (name.startsWith('x-invoker') || name.startsWith(input.invokerHeader)) continue
    if (dropped?.has(name)) continue
    if (name === 'cookie' && droppedCookie !== null) {
      const rest = withoutCookie(value, droppedCookie)
      if (rest !== null) out.append(name, rest)
      continue
    }
    out.append(name, value)
  }
  if (input.websocket) {
    out.set('upgrade', 'websocket')
    out.set('connection', 'Upgrade')
  }
  if (input.clientAddress) out.set('x-forwarded-for', input.clientAddress)
  out.set('x-forwarded-proto', input.proto)
  out.set('x-forwarded-host', input.host)
  out.set('x-request-id', input.requestId)
  out.set(input.invokerHeader, input.token)
  return out
}

/** Whether the request carries a body to forward (and, when signed, to check against Content-Digest). */
export function hasBody(request: Request): boolean {
  return request.body !== null && request.method !== 'GET' && request.method !== 'HEAD' && request.headers.get('content-length') !== '0'
}

/** Whether the request asks for a WebSocket upgrade (RFC 6455 §4.1). */
export function isWebSocketUpgrade(headers: Headers): boolean {
  return headers.get('upgrade')?.toLowerCase() === 'websocket'
}
