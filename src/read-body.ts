/**
 * Reading a request body into memory with a byte cap that holds while reading: a declared
 * `Content-Length` over the cap is refused before a byte is read, and a body without one
 * (chunked) is cut off as soon as it passes the cap. `request.text()` or `arrayBuffer()` would
 * first read the whole body, however large, and only then let the caller look at its size.
 *
 * Written by hand because neither hono's `bodyLimit` (it answers with its own response, not a
 * GatewayError, and keeps the body as a stream for a later reader) nor the runtime offers a
 * capped read that hands back the bytes.
 *
 * @module
 */

import { GatewayError } from './errors/reasons.ts'

export type BodyProblem = 'too_large' | 'unreadable' | 'stalled'

export type BoundedBody = { ok: true; bytes: Uint8Array } | { ok: false; problem: BodyProblem }

/** The request's `Content-Length`, or `null` when it has none (or one that is not a length). */
export function declaredLength(headers: Headers): number | null {
  const value = headers.get('content-length')
  return value !== null && /^\d{1,15}$/.test(value) ? Number(value) : null
}

/**
 * The body's bytes; `too_large` once it is known to be longer than `limit` bytes, `unreadable`
 * when the sender's stream failed (a client that went away mid-body).
 */
/**
 * `idleMs`: how long the client may send nothing before the read gives up (`upload_idle_timeout`):
 * a body that stalls is `stalled`, one that breaks off (the client went) is `unreadable`.
 */
export async function readBounded(request: Request, limit: number, idleMs: number): Promise<BoundedBody> {
  const declared = declaredLength(request.headers)
  const body = request.body
  if (declared !== null && declared > limit) {
    stopReading(body)
    return { ok: false, problem: 'too_large' }
  }
  if (body === null) return { ok: true, bytes: new Uint8Array(0) }
  const reader = body.getReader()
  // With a declared length the body is read into one buffer of that size, never copied again.
  const buffer = declared === null ? null : new Uint8Array(declared)
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array> | null
    try {
      next = await readWithin(reader, idleMs)
    } catch {
      return { ok: false, problem: 'unreadable' }
    }
    if (next === null) {
      stopReading(reader)
      return { ok: false, problem: 'stalled' }
    }
    const { done, value } = next
    if (done) break
    const chunk = value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer)
    if (total + chunk.byteLength > (buffer?.byteLength ?? limit)) {
      stopReading(reader)
      return { ok: false, problem: 'too_large' }
    }
    if (buffer !== null) buffer.set(chunk, total)
    else chunks.push(chunk)
    total += chunk.byteLength
  }
  if (buffer !== null) return { ok: true, bytes: total === buffer.byteLength ? buffer : buffer.subarray(0, total) }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return { ok: true, bytes }
}

/** Tells the sender to stop; not awaited, as a sender that never answers must not hold the request. */
/** The next read, or `null` when `idleMs` pass without one. */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  idleMs: number,
): Promise<ReadableStreamReadResult<Uint8Array> | null> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const idle = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), idleMs)
  })
  try {
    return await Promise.race([reader.read(), idle])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

/** The answer to a body that could not be read whole: 413, 400 (broken off) or 408 (stalled). */
export function unreadableBody(problem: BodyProblem, limitBytes: number, idleMs: number): GatewayError {
  switch (problem) {
    case 'too_large':
      return new GatewayError({ reason: 'body_too_large', limitBytes })
    case 'unreadable':
      return new GatewayError({ reason: 'body_unreadable' })
    case 'stalled':
      return new GatewayError({ reason: 'upload_stalled', idleMs })
  }
}

function stopReading(source: ReadableStream<Uint8Array> | ReadableStreamDefaultReader<Uint8Array> | null): void {
  source?.cancel().catch(() => undefined)
}
