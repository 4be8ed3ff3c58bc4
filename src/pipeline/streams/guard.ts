/**
 * What watches an open SSE answer or WebSocket (issue 15): one timer per stream, due at the
 * earliest of its `max_duration`, its idle deadline (no byte either way for `idle_timeout`) and
 * its next recheck of the credential. Events on the stream only note the time (no store call, no
 * timer per event); the credential is asked again only when a recheck is due.
 *
 * A recheck that finds the credential revoked, expired or signed out ends the stream
 * (`revoked_mid_stream`); one that cannot be answered (a store or endpoint down) is counted and
 * left to the pack's `streams.on_error`: `allow` keeps the stream until a recheck answers, `deny`
 * ends it (`recheck_unavailable`). The transport (sse.ts, websocket.ts) says how a stream is
 * ended; the guard ends it once, writes the `stream_end` log line and lets the request's
 * concurrency slots go.
 *
 * @module
 */
import type { Recheck } from '../../state.ts'
import type { StreamEndReason } from '../../log.ts'
import type { CompiledStreams } from '../../policy/types.ts'

/** How the gateway explains an end it decided: a code for the log, a sentence for the client. */
export interface StreamStop {
  reason: Extract<StreamEndReason, 'revoked_mid_stream' | 'recheck_unavailable' | 'max_duration' | 'idle_timeout'>
  problem: string | null
  detail: string
}

export interface StreamSummary {
  reason: StreamEndReason
  problem: string | null
  durationMs: number
  rechecks: number
  recheckErrors: number
}

export class StreamGuard {
  readonly #settings: CompiledStreams
  readonly #recheck: Recheck | null
  readonly #onEnd: (summary: StreamSummary) => void
  readonly #opened = Date.now()
  #lastActivity = this.#opened
  #nextRecheck: number
  #timer: ReturnType<typeof setTimeout> | undefined
  #checking = false
  #ended = false
  #stop: ((stop: StreamStop) => void) | null = null
  #rechecks = 0
  #recheckErrors = 0

  constructor(settings: CompiledStreams, recheck: Recheck | null, onEnd: (summary: StreamSummary) => void) {
    this.#settings = settings
    this.#recheck = recheck
    this.#onEnd = onEnd
    this.#nextRecheck = recheck === null ? Infinity : this.#opened + settings.recheckMs
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Starts watching; `stop` closes the transport with the gateway's reason. */
  start(stop: (stop: StreamStop) => void): void {
    this.#stop = stop
    this.#schedule()
  }

  /** A byte or message moved, either way. */
  activity(): void {
    this.#lastActivity = Date.now()
  }

  /** The stream is over (either side closed it, or the gateway did): once. */
  end(reason: StreamEndReason, problem: string | null = null): void {
    if (this.#ended) return
    this.#ended = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#onEnd({
      reason,
      problem,
      durationMs: Date.now() - this.#opened,
      rechecks: this.#rechecks,
      recheckErrors: this.#recheckErrors,
    })
  }

  #deadline(): number {
    const { maxDurationMs, idleTimeoutMs } = this.#settings
    let at = this.#checking ? Infinity : this.#nextRecheck
    if (maxDurationMs !== null) at = Math.min(at, this.#opened + maxDurationMs)
    if (idleTimeoutMs !== null) at = Math.min(at, this.#lastActivity + idleTimeoutMs)
    return at
  }

  #schedule(): void {
    if (this.#ended) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const at = this.#deadline()
    if (at === Infinity) return
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, at - Date.now()))
  }

  #tick(): void {
    this.#timer = undefined
    if (this.#ended) return
    const now = Date.now()
    const { maxDurationMs, idleTimeoutMs } = this.#settings
    if (maxDurationMs !== null && now >= this.#opened + maxDurationMs) {
      this.#close({
        reason: 'max_duration',
        problem: null,
        detail: `The stream reached its longest allowed duration (${seconds(maxDurationMs)}).`,
      })
      return
    }
    if (idleTimeoutMs !== null && now >= this.#lastActivity + idleTimeoutMs) {
      this.#close({
        reason: 'idle_timeout',
        problem: null,
        detail: `Nothing moved on the stream for ${seconds(idleTimeoutMs)}.`,
      })
      return
    }
    if (!this.#checking && now >= this.#nextRecheck) void this.#runRecheck()
    this.#schedule()
  }

  async #runRecheck(): Promise<void> {
    const recheck = this.#recheck as Recheck
    this.#checking = true
    this.#rechecks++
    const result = await recheck(this.#settings.recheckMs)
    this.#checking = false
    this.#nextRecheck = Date.now() + this.#settings.recheckMs
    if (this.#ended) return
    if (result.kind === 'refused')
      return this.#close({ reason: 'revoked_mid_stream', problem: result.refusal.code, detail: result.refusal.detail })
    if (result.kind === 'unavailable') {
      this.#recheckErrors++
      if (this.#settings.onError === 'deny') {
        return this.#close({
          reason: 'recheck_unavailable',
          problem: result.problem,
          detail: 'The credential behind this stream could not be checked again.',
        })
      }
    }
    this.#schedule()
  }

  #close(stop: StreamStop): void {
    if (this.#ended) return
    this.#stop?.(stop)
    this.end(stop.reason, stop.problem)
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}
