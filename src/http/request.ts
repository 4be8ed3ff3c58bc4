/**
 * What several steps read of the incoming request, in one place: where the caller is, whether
 * it carries a body, whether it asks for a WebSocket.
 *
 * @module
 */

/** The client address as Cloudflare's edge reports it; clients cannot set this header there. */
export function clientAddress(headers: Headers): string | null {
  const address = headers.get('cf-connecting-ip')?.trim()
  return address ? address : null
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
