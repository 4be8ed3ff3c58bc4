/**
 * Step 6: forward to the backend and stream the answer back. Bodies are passed as streams in
 * both directions, so an SSE event or an upload chunk crosses the gateway as soon as it exists.
 * The timeout covers the wait for response headers only; a long stream is not cut off.
 *
 * @module
 */
import type { Handler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import { clientAddress } from '../authenticate/anonymous.ts'
import { checkedBody } from '../authenticate/envelope/content-digest.ts'
import { applyRateLimitHeaders } from '../rate-limit/headers.ts'
import { hasBody, isWebSocketUpgrade, upstreamHeaders } from './headers.ts'

export const forward = (policy: CompiledPolicy): Handler<GatewayEnv> => {
  const { headerName, upstreamTimeoutMs } = policy.gateway
  return async function forward(c) {
    const request = c.req.raw
    const route = c.get('route')
    const requestId = c.get('requestId')
    const incomingUrl = c.get('url')
    const websocket = isWebSocketUpgrade(request.headers)
    const headers = upstreamHeaders(request.headers, {
      invokerHeader: headerName,
      token: c.get('invokerToken'),
      requestId,
      consumed: c.get('consumed'),
      passCredentials: route.pack.passCredentials,
      clientAddress: clientAddress(request.headers),
      proto: incomingUrl.protocol.slice(0, -1),
      host: incomingUrl.host,
      websocket,
    })
    const withBody = hasBody(request)
    const expectedDigest = c.get('expectedDigest')
    const checked = withBody && expectedDigest ? checkedBody(request.body as ReadableStream<Uint8Array>, expectedDigest, request.headers.get('content-length')) : null
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), upstreamTimeoutMs)
    let upstream: Response
    try {
      upstream = await fetch(route.upstreamUrl + route.query, {
        method: request.method,
        headers,
        body: checked ? checked.body : withBody ? request.body : null,
        redirect: 'manual',
        signal: controller.signal,
      })
    } catch {
      if (checked?.mismatched) throw new GatewayError({ reason: 'content_digest_mismatch', accepted: route.pack.auth })
      throw new GatewayError(
        controller.signal.aborted ? { reason: 'upstream_timeout', timeoutMs: upstreamTimeoutMs } : { reason: 'upstream_unreachable' },
      )
    } finally {
      clearTimeout(timer)
    }
    // A Response built from the upstream one copies status and headers natively (the upstream's
    // own headers are immutable) and takes its body stream, or its WebSocket, as is. A step may
    // have chosen a transform for this request's answer (an MCP tool list, filtered per caller).
    const transform = c.get('responseTransform')
    const response =
      upstream.status === 101 && upstream.webSocket
        ? new Response(null, { status: 101, webSocket: upstream.webSocket, headers: upstream.headers })
        : transform
          ? await transform(upstream)
          : new Response(upstream.body, upstream)
    response.headers.set('x-request-id', requestId)
    applyRateLimitHeaders(response.headers, c.get('rateLimitHeaders'))
    return response
  }
}
