/**
 * A server-sent event stream under the gateway's watch (issue 15). When the gateway ends it
 * (revoked credential, `max_duration`, `idle_timeout`), the client sees why in a last event of
 * the gateway's own, then a clean end of the body:
 *
 *   event: gateway_closed
 *   data: {"reason":"revoked_mid_stream","detail":"The API key has been revoked."}
 *
 * That event is only written between two of the backend's events (the bytes so far end with a
 * blank line): in the middle of one, the body simply ends, and a client discards the unfinished
 * event (HTML's event stream interpretation: data without its blank line is never dispatched).
 * An `EventSource` that reconnects then meets the gateway's answer to a new request (a revoked
 * key: 401).
 *
 * @module
 */
import type { StreamGuard, StreamStop } from './guard.ts'
import { relayBody, type RelayEnd } from './relay.ts'

export const GATEWAY_CLOSED_EVENT = 'gateway_closed'

const LF = 0x0a
const CR = 0x0d

/**
 * Tracks whether the bytes relayed so far end an event: "\n\n", "\r\r" or "\r\n\r\n" (the
 * event stream's line ends, WHATWG HTML §9.2.5). Only the last four bytes matter.
 */
export class EventBoundary {
  #tail: number[] = []

  /** Nothing yet is a boundary too. */
  get atBoundary(): boolean {
    const t = this.#tail
    const n = t.length
    if (n === 0) return true
    if (n >= 2 && t[n - 1] === LF && t[n - 2] === LF) return true
    if (n >= 2 && t[n - 1] === CR && t[n - 2] === CR) return true
    return n >= 4 && t[n - 1] === LF && t[n - 2] === CR && t[n - 3] === LF && t[n - 4] === CR
  }

  push(bytes: Uint8Array): void {
    if (bytes.length >= 4) {
      this.#tail = [
        bytes[bytes.length - 4] as number,
        bytes[bytes.length - 3] as number,
        bytes[bytes.length - 2] as number,
        bytes[bytes.length - 1] as number,
      ]
      return
    }
    this.#tail = [...this.#tail, ...bytes].slice(-4)
  }
}

export function closingEvent(stop: StreamStop): Uint8Array {
  return new TextEncoder().encode(
    `event: ${GATEWAY_CLOSED_EVENT}\ndata: ${JSON.stringify({ reason: stop.reason, detail: stop.detail })}\n\n`,
  )
}

/** The backend's event stream, relayed under `guard`. */
export function guardedEventStream(body: ReadableStream<Uint8Array>, guard: StreamGuard): ReadableStream<Uint8Array> {
  const boundary = new EventBoundary()
  const relay = relayBody(body, {
    chunk(bytes) {
      guard.activity()
      boundary.push(bytes)
    },
    end(reason: RelayEnd) {
      guard.end(reason)
    },
  })
  guard.start((stop) => relay.stop(boundary.atBoundary ? closingEvent(stop) : null))
  return relay.stream
}
