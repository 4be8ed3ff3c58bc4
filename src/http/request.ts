/**
 * What several steps read of the incoming request, in one place: where the caller is, whether
 * it carries a body, whether it asks for a WebSocket.
 *
 * @module
 */
import { parseClientAddress, type ClientAddress } from './client-address.ts'

/**
 * The client address as Cloudflare's edge reports it (clients cannot set this header there), in
 * its canonical spelling with the key it is counted by; `null` when there is none, or when the
 * value is not an address (client-address.ts says why those are alike). Read once per request,
 * into the request's state.
 */
export function clientAddress(headers: Headers): ClientAddress | null {
  const address = headers.get('cf-connecting-ip')?.trim()
  return address ? parseClientAddress(address) : null
}

/** Whether the request carries a body to forward (and, when signed, to check against Content-Digest). */
export function hasBody(request: Request): boolean {
  return (
    request.body !== null &&
    request.method !== 'GET' &&
    request.method !== 'HEAD' &&
    request.headers.get('content-length') !== '0'
  )
}

/** Whether the request asks for a WebSocket upgrade (RFC 6455 §4.1). */
export function isWebSocketUpgrade(headers: Headers): boolean {
  return headers.get('upgrade')?.toLowerCase() === 'websocket'
}
