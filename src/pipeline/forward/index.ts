/**
 * Step 6: forward to the backend and stream the answer back. Bodies are passed as streams in
 * both directions, so an SSE event or an upload chunk crosses the gateway as soon as it exists;
 * the one exception is a signed body, which is read and checked against its Content-Digest
 * before it is forwarded (unless the pack lets large ones stream). The timeout covers the wait
 * for response headers only, from the moment the backend has the whole request body (upload.ts:
 * a slow upload is not a slow backend; a stalled one is cut by `upload_idle_timeout`); a long
 * stream is not cut off here (streams/ watches it).
 *
 * @module
 */
import type { Handler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import type { CompiledPack, CompiledPolicy } from '../../policy/types.ts'
import { declaredLength, readBounded } from '../../read-body.ts'
import { clientAddress } from '../authenticate/anonymous.ts'
import { digestMatches, streamedBody, type ExpectedDigest, type StreamedBody } from '../authenticate/envelope/content-digest.ts'
import { applyRateLimitHeaders } from '../rate-limit/headers.ts'
import { hasBody, isWebSocketUpgrade, upstreamHeaders } from './headers.ts'
import { watchUpload, type UploadWatch } from './upload.ts'

export const forward = (policy: CompiledPolicy): Handler<GatewayEnv> => {
  const { headerName, upstreamTimeoutMs, uploadIdleTimeoutMs } = policy.gateway
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
      methodOverride: c.get('methodOverride'),
      trace: c.get('trace'),
    })
    const controller = new AbortController()
    // Aborted without a reason: workerd logs a fetch aborted with one as an uncaught exception.
    const abort = (): void => controller.abort()
    const withBody = hasBody(request)
    const expected = withBody ? c.get('expectedDigest') : null
    let streamed: StreamedBody | null = null
    let body: BodyInit | null = withBody ? request.body : null
    if (expected?.stream) {
      streamed = streamedBody(request.body as ReadableStream<Uint8Array>, expected, declaredLength(request.headers) ?? 0, abort)
      body = streamed.body
    } else if (expected) {
      body = await verifiedBody(request, expected, route.pack)
    }
    // A body still to be sent is watched; the upstream timeout starts once it has been.
    const upload: UploadWatch | null = body instanceof ReadableStream ? watchUpload(body, declaredLength(request.headers), uploadIdleTimeoutMs, abort) : null
    if (upload !== null) body = upload.body
    let timedOut = false
    let answered = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const startTimer = (): void => {
      if (answered) return
      timer = setTimeout(() => {
        timedOut = true
        abort()
      }, upstreamTimeoutMs)
    }
    if (upload === null) startTimer()
    else void upload.sent.then(startTimer)
    let upstream: Response
    const sent = Date.now()
    try {
      upstream = await fetch(route.upstreamUrl + route.query, {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: controller.signal,
      })
    } catch {
      if (streamed?.mismatched) throw new GatewayError({ reason: 'content_digest_mismatch', accepted: route.pack.auth })
      if (streamed?.unreadable || upload?.unreadable) throw new GatewayError({ reason: 'body_unreadable' })
      if (upload?.stalled === 'client') throw new GatewayError({ reason: 'upload_stalled', idleMs: uploadIdleTimeoutMs })
      if (upload?.stalled === 'backend') throw new GatewayError({ reason: 'upstream_timeout', timeoutMs: uploadIdleTimeoutMs })
      throw new GatewayError(timedOut ? { reason: 'upstream_timeout', timeoutMs: upstreamTimeoutMs } : { reason: 'upstream_unreachable' })
    } finally {
      answered = true
      if (timer !== undefined) clearTimeout(timer)
      upload?.done()
      c.set('upstreamMs', Date.now() - sent)
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

/**
 * The signed body, read whole (up to the pack's limit) and checked: the backend receives the
 * very bytes that matched the digest, or nothing at all.
 */
async function verifiedBody(request: Request, expected: ExpectedDigest, pack: CompiledPack): Promise<Uint8Array> {
  const read = await readBounded(request, pack.signedBody.limitBytes)
  if (!read.ok) throw new GatewayError(read.problem === 'too_large' ? { reason: 'body_too_large', limitBytes: pack.signedBody.limitBytes } : { reason: 'body_unreadable' })
  if (!(await digestMatches(read.bytes, expected))) throw new GatewayError({ reason: 'content_digest_mismatch', accepted: pack.auth })
  return read.bytes
}
