/**
 * A WebSocket under the gateway's watch (issue 15). Unguarded, the backend's socket would be
 * handed to the runtime as it is; to be able to close it, the gateway relays it instead: it
 * accepts the backend's socket and one end of a new pair, and passes each message across (text
 * as text, binary as binary), noting the time for the idle deadline. Either side's close is
 * passed on with its code and reason. When the gateway ends the stream it closes both sides
 * with 1008 (RFC 6455 §7.4.1, policy violation) and a reason the client can read, e.g.
 * `revoked_mid_stream: The API key has been revoked.` (workerd sends a Worker's close code and
 * reason as given: measured with a Node `ws` client and backend).
 *
 * @module
 */
import { MAX_CLOSE_REASON_BYTES, WEBSOCKET_POLICY_CLOSE } from '../../constants.ts'
import type { StreamGuard } from './guard.ts'

/** The upgrade's answer, with the relay's end of the pair in place of the backend's socket. */
export function guardedWebSocket(upstream: Response, guard: StreamGuard): Response {
  const backend = upstream.webSocket as WebSocket
  const pair = new WebSocketPair()
  const client = pair[0]
  const server = pair[1]
  backend.accept()
  server.accept()
  relay(server, backend, guard, 'client_closed')
  relay(backend, server, guard, 'backend_closed')
  guard.start((stop) => {
    const reason = closeReason(`${stop.reason}: ${stop.detail}`)
    closeQuietly(server, WEBSOCKET_POLICY_CLOSE, reason)
    closeQuietly(backend, WEBSOCKET_POLICY_CLOSE, reason)
  })
  const headers = new Headers(upstream.headers)
  // Extensions are per connection: the runtime negotiates its own with the client.
  headers.delete('sec-websocket-extensions')
  return new Response(null, { status: 101, webSocket: client, headers })
}

function relay(from: WebSocket, to: WebSocket, guard: StreamGuard, closedBy: 'client_closed' | 'backend_closed'): void {
  from.addEventListener('message', (event) => {
    guard.activity()
    try {
      to.send(event.data)
    } catch {
      // The other side is closing; its own close event ends the stream.
    }
  })
  from.addEventListener('close', (event) => {
    guard.end(closedBy)
    closeQuietly(to, sendable(event.code) ? event.code : 1001, sendable(event.code) ? event.reason : '')
  })
  from.addEventListener('error', () => {
    guard.end(closedBy === 'backend_closed' ? 'backend_error' : 'client_closed')
    closeQuietly(to, 1011, '')
  })
}

/** Codes an endpoint may put on the wire (RFC 6455 §7.4: 1005, 1006 and 1015 are never sent). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}

function closeQuietly(socket: WebSocket, code: number, reason: string): void {
  try {
    socket.close(code, reason)
  } catch {
    // Already closed.
  }
}

/** At most MAX_CLOSE_REASON_BYTES of UTF-8, cut at a character boundary. */
export function closeReason(text: string): string {
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return text
  let end = MAX_CLOSE_REASON_BYTES
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--
  return new TextDecoder().decode(bytes.subarray(0, end))
}
