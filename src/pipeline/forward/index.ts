/**
 * Step 6: forward to the backend and stream the answer back. Bodies are passed as streams in
 * both directions, so an SSE event or an upload chunk crosses the gateway as soon as it exists;
 * the one exception is a signed body, which is read and checked against its Content-Digest
 * before it is forwarded (unless the pack lets large ones stream). The timeout covers the wait
 * for response headers only, from the moment the backend has the whole request body (upload.ts:
 * a slow upload is not a slow backend; a stalled one is cut by `upload_idle_timeout`); a long
 * stream is not cut off here (streams/ watches it).
 *
 * The bound is one AbortController and one timer, cleared when the headers arrive: the runtime's
 * `AbortSignal.timeout()` would be cheaper, but a fetch's signal also cuts its response body
 * (measured in workerd: an answer streaming past the timeout was cut at it), which would end
 * every stream longer than `upstream_timeout`.
 *
 * @module
 */
import { GatewayError } from '../../errors/reasons.ts'
import { answerFields } from '../../http/answer.ts'
import { dropSetCookies } from '../../http/cookie.ts'
import { hasBody, isWebSocketUpgrade } from '../../http/request.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import { declaredLength } from '../../read-body.ts'
import type { CheckedBody, Signed } from '../../state.ts'
import { upstreamHeaders } from './headers.ts'
import { watchUpload, type UploadWatch } from './upload.ts'

/** The CORS fields of an answer, which only the gateway sets (http/answer.ts). */
const BACKEND_CORS_FIELDS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
  'access-control-allow-private-network',
]

/**
 * RFC 9110 §7.6.1 on the way back: the fields the backend's `Connection` names were for its hop
 * (the runtime drops the standard ones itself), and `Proxy-Authenticate` asks the client for
 * credentials of a proxy it never chose.
 */
function dropHopByHop(headers: Headers): void {
  const connection = headers.get('connection')
  if (connection !== null) {
    for (const token of connection.split(',')) {
      const name = token.trim().toLowerCase()
      if (name !== '') headers.delete(name)
    }
    headers.delete('connection')
  }
  headers.delete('proxy-authenticate')
}

/**
 * What of the backend's answer fields the client never sees: CORS fields (CORS is the
 * gateway's, cors step: a backend's echoed Origin would stand next to the gateway's
 * Allow-Credentials and let any site read a cookie's answer), hop-by-hop fields (not on a
 * WebSocket's 101, whose `Connection: Upgrade` the runtime needs), and `Set-Cookie` for the
 * gateway's session cookies.
 */
function backendFieldsDropped(headers: Headers, sessionCookies: readonly string[], websocket: boolean): void {
  for (const name of BACKEND_CORS_FIELDS) headers.delete(name)
  if (!websocket) dropHopByHop(headers)
  dropSetCookies(headers, sessionCookies)
}

export const forward = (policy: CompiledPolicy) => {
  const { headerName, upstreamTimeoutMs, uploadIdleTimeoutMs } = policy.gateway
  const sessionCookies: readonly string[] = policy.session?.cookies ?? []
  const { delegationHeader } = policy.envelope
  return async function forward(s: Signed): Promise<Response> {
    const request = s.request
    const route = s.route
    const url = s.url
    const headers = upstreamHeaders(request.headers, {
      invokerHeader: headerName,
      token: s.invokerToken,
      requestId: s.requestId,
      consumed: s.consumed,
      sessionCookies,
      delegationHeader,
      passCredentials: route.pack.passCredentials,
      clientAddress: s.clientAddress?.text ?? null,
      proto: url.protocol.slice(0, -1),
      host: url.host,
      websocket: isWebSocketUpgrade(request.headers),
      methodOverride: s.methodOverride,
      trace: s.trace,
    })
    const controller = new AbortController()
    // Aborted without a reason: workerd logs a fetch aborted with one as an uncaught exception.
    const abort = (): void => controller.abort()
    let checked: CheckedBody | null = null
    let body: BodyInit | null = null
    if (hasBody(request)) {
      if (s.bodyCheck !== null) {
        checked = await s.bodyCheck(abort)
        body = checked.body
      } else body = request.body
    }
    // A body still to be sent is watched; the upstream timeout starts once it has been.
    const upload: UploadWatch | null =
      body instanceof ReadableStream
        ? watchUpload(body, declaredLength(request.headers), uploadIdleTimeoutMs, abort)
        : null
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
        // An answer for one invoker is never the zone cache's to keep or serve: without this, a
        // subrequest to an upstream in the Worker's zone (a Tunnel hostname) goes through its
        // cache, keyed by URL alone, and a cacheable answer (`Cache-Control: public`, a default
        // cached extension) would reach other invokers. Accepted since compatibility date
        // 2024-11-11 (`cache_option_enabled`).
        cache: 'no-store',
        signal: controller.signal,
      })
    } catch {
      const failure = checked?.failure() ?? null
      if (failure !== null) throw failure
      if (upload?.unreadable) throw new GatewayError({ reason: 'body_unreadable' })
      if (upload?.stalled === 'client')
        throw new GatewayError({ reason: 'upload_stalled', idleMs: uploadIdleTimeoutMs })
      if (upload?.stalled === 'backend')
        throw new GatewayError({ reason: 'upstream_timeout', timeoutMs: uploadIdleTimeoutMs })
      throw new GatewayError(
        timedOut ? { reason: 'upstream_timeout', timeoutMs: upstreamTimeoutMs } : { reason: 'upstream_unreachable' },
      )
    } finally {
      answered = true
      if (timer !== undefined) clearTimeout(timer)
      upload?.done()
      s.upstreamMs = Date.now() - sent
    }
    // The upstream response's headers are immutable: its answer is re-made once, here, to carry
    // the request id (and whatever fields earlier steps recorded for every answer, set on these
    // same headers). A Response built from the upstream one copies status and headers natively
    // and takes its body stream, or its WebSocket, as is. A step may have chosen a transform for
    // this request's answer (an MCP tool list, filtered per caller), which makes its own.
    const websocket = upstream.status === 101 && upstream.webSocket !== null && upstream.webSocket !== undefined
    // A status a Response cannot carry (600 and up, a 1xx that is no upgrade) is the backend's
    // fault, and a 502: the runtime hands it over, but a Response made from it would throw.
    if (!websocket && (upstream.status < 200 || upstream.status > 599)) {
      await upstream.body?.cancel()
      throw new GatewayError({ reason: 'upstream_invalid', status: upstream.status })
    }
    const response = websocket
      ? new Response(null, { status: 101, webSocket: upstream.webSocket, headers: upstream.headers })
      : s.answerTransform !== null
        ? await s.answerTransform(upstream)
        : new Response(upstream.body, upstream)
    const answer = response.headers
    backendFieldsDropped(answer, sessionCookies, websocket)
    // Set after the backend's fields are judged: its `Connection` may name any field.
    answer.set('x-request-id', s.requestId)
    answerFields(answer, s)
    return response
  }
}
