/**
 * A request body on its way to the backend, watched (issue 15), so that `upstream_timeout` can
 * mean "time to response headers once the backend has the whole request", and a stalled upload
 * is still cut:
 *
 * - the body is pumped chunk by chunk into a native stream the upstream fetch reads
 *   (`FixedLengthStream` when the length is declared, so the backend still gets its
 *   Content-Length; `IdentityTransformStream` otherwise). Those streams hold no buffer: a write
 *   completes when the fetch has taken the chunk, so `sent` resolves when the last byte has
 *   been handed to the connection;
 * - while the body is being sent, no byte may stand still for `idleMs`: the upload is then cut,
 *   as `client` (the gateway was waiting for the client's next chunk: 408) or `backend` (it was
 *   waiting for the backend to take one: 504). One timer per request, re-armed lazily rather
 *   than per chunk.
 *
 * Once the response headers arrive the watch ends (`done`): a backend that answers while it
 * still reads (full duplex) is not cut for an idle upload; the stream's own limits apply then.
 *
 * @module
 */

export interface UploadWatch {
  /** What the upstream fetch sends. */
  body: ReadableStream<Uint8Array>
  /** Resolves when the whole body has been taken by the upstream fetch (never rejects). */
  sent: Promise<void>
  /** Why the upload was cut, once it was. */
  readonly stalled: 'client' | 'backend' | null
  /** Whether the client's body failed before its end (a client that went away mid-upload). */
  readonly unreadable: boolean
  /** The response headers are in: stop watching for stalls. */
  done(): void
}

export function watchUpload(
  source: ReadableStream<Uint8Array>,
  length: number | null,
  idleMs: number,
  abort: () => void,
): UploadWatch {
  const out = length === null ? new IdentityTransformStream() : new FixedLengthStream(length)
  const writer = out.writable.getWriter()
  const reader = source.getReader()
  const state = {
    stalled: null as 'client' | 'backend' | null,
    unreadable: false,
    waitingOn: 'client' as 'client' | 'backend',
    progressAt: Date.now(),
    watching: true,
    answered: false,
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  const check = (): void => {
    timer = undefined
    if (!state.watching) return
    const idle = Date.now() - state.progressAt
    if (idle < idleMs) {
      timer = setTimeout(check, idleMs - idle)
      return
    }
    state.stalled = state.waitingOn
    state.watching = false
    reader.cancel().catch(() => undefined)
    writer.abort().catch(() => undefined)
    abort()
  }
  timer = setTimeout(check, idleMs)
  const stop = (): void => {
    state.watching = false
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }

  const sent = (async (): Promise<void> => {
    try {
      for (;;) {
        state.waitingOn = 'client'
        let next: ReadableStreamReadResult<Uint8Array>
        try {
          next = await reader.read()
        } catch {
          if (state.stalled === null) state.unreadable = true
          throw new Error('the request body failed')
        }
        state.progressAt = Date.now()
        if (next.done) break
        state.waitingOn = 'backend'
        await writer.write(next.value)
        state.progressAt = Date.now()
      }
      state.waitingOn = 'backend'
      await writer.close()
    } catch {
      // The client's body failed, the upload was cut, or the upstream request ended: end the
      // other side too. Before the answer, the fetch is aborted and reports what happened;
      // after it, aborting would cut the answer the client is reading, so only the upload ends.
      stop()
      reader.cancel().catch(() => undefined)
      writer.abort().catch(() => undefined)
      if (!state.answered) abort()
      return new Promise<void>(() => undefined)
    }
  })()

  return {
    body: out.readable,
    sent: sent.then(stop),
    get stalled() {
      return state.stalled
    },
    get unreadable() {
      return state.unreadable
    },
    done() {
      state.answered = true
      stop()
    },
  }
}
