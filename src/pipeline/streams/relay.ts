/**
 * A response body passed through the gateway chunk by chunk, so that the gateway knows when it
 * ends and how (issue 15): the backend finished it, the backend failed, or the client went away
 * (the runtime cancels the body it was sending). It can also be stopped by the gateway, which
 * then closes it cleanly, after one last chunk of its own if it has one.
 *
 * Pull-based with no queue of its own (`highWaterMark: 0`): a chunk is read from the backend
 * only when the client side asks for one, so backpressure reaches the backend as before and a
 * stop never waits behind buffered data. Closing (not erroring) the stream on a stop ends the
 * HTTP body properly: workerd ends an errored body by dropping the connection (the client sees
 * a network error instead of the last chunk) and logs it as an uncaught exception (measured).
 * A backend that fails mid-body is passed on as an error, as an unguarded body would be.
 *
 * @module
 */

export type RelayEnd = 'client_closed' | 'backend_closed' | 'backend_error'

export interface RelayHooks {
  /** A chunk is about to go to the client. */
  chunk?(bytes: Uint8Array): void
  /** The body ended by itself; not called after `stop`. */
  end(reason: RelayEnd): void
}

export interface Relay {
  readonly stream: ReadableStream<Uint8Array>
  /** Ends the body now, after `last` when given; the backend's side is cancelled. */
  stop(last: Uint8Array | null): void
}

export function relayBody(body: ReadableStream<Uint8Array>, hooks: RelayHooks): Relay {
  const reader = body.getReader()
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null
  let over = false
  const finish = (reason: RelayEnd): boolean => {
    if (over) return false
    over = true
    hooks.end(reason)
    return true
  }
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
      },
      async pull(c) {
        let next: ReadableStreamReadResult<Uint8Array>
        try {
          next = await reader.read()
        } catch (error) {
          if (finish('backend_error')) c.error(error)
          return
        }
        if (over) return
        if (next.done) {
          if (finish('backend_closed')) c.close()
          return
        }
        hooks.chunk?.(next.value)
        c.enqueue(next.value)
      },
      cancel() {
        finish('client_closed')
        reader.cancel().catch(() => undefined)
      },
    },
    { highWaterMark: 0 },
  )
  return {
    stream,
    stop(last) {
      if (over || controller === null) return
      over = true
      try {
        if (last !== null) controller.enqueue(last)
        controller.close()
      } catch {
        // Already closed by the runtime (the client left at the same moment).
      }
      reader.cancel().catch(() => undefined)
    },
  }
}
