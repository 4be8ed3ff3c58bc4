/**
 * Step 5: long-lived requests (issue 15). Runs after the rate limits and before signing:
 *
 * 1. **Concurrency.** Every concurrency rule of the pack that applies must have a free slot for
 *    the request's key (slot-table.ts: slots live in the store, so a limit holds across isolates);
 *    over a limit, 429 with `Retry-After` and the RateLimit fields naming the rule. The slots are
 *    held until the request ends, whichever way (hold.ts), and renewed while it is open.
 * 2. **Streams.** An SSE answer or a WebSocket is watched (guard.ts): closed after the pack's
 *    `max_duration` or `idle_timeout`, and ended when a recheck of its credential fails. Its end
 *    writes a second log line, `event: stream_end`. Other answers pass untouched, except that on
 *    a route with concurrency rules their body is relayed to learn when it ends.
 *
 * @module
 */
import { CONCURRENCY_COUNTERS_MAX_ENTRIES, CONCURRENCY_RETRY_AFTER_S } from '../../constants.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { withConcurrency } from '../../http/ratelimit-fields.ts'
import { limitSubject } from '../../http/limit-subject.ts'
import { sha256Hex } from '../../keys/digest.ts'
import { writeStreamEndLine } from '../../log.ts'
import { keyValue, rulesThatApply, type RateLimitSubject } from '../../policy/limit-rules.ts'
import type { CompiledConcurrency, CompiledPolicy } from '../../policy/types.ts'
import type { Authenticated } from '../../state.ts'
import { BoundedMap } from '../../store/bounded-map.ts'
import { storeFor, UnavailableStore } from '../../store/index.ts'
import type { GatewayStore } from '../../store/types.ts'
import { StreamGuard, type StreamSummary } from './guard.ts'
import { Hold } from './hold.ts'
import { relayBody } from './relay.ts'
import { SlotTable } from './slot-table.ts'
import { guardedEventStream } from './sse.ts'
import { guardedWebSocket } from './websocket.ts'

/** Without a store, every rule's on_error decides. */
const NO_STORE = new UnavailableStore('no store is configured')

export const streams = (policy: CompiledPolicy) => {
  const { storeTimeoutMs, concurrencyLeaseMs } = policy.gateway
  const tables = new WeakMap<GatewayStore, SlotTable>()
  // Counter names by rule and key value: the digest is taken once per key, not per request.
  const names = new BoundedMap<string, string>(CONCURRENCY_COUNTERS_MAX_ENTRIES)
  const tableFor = (store: GatewayStore): SlotTable => {
    let table = tables.get(store)
    if (table === undefined) {
      table = new SlotTable(store, storeTimeoutMs, concurrencyLeaseMs)
      tables.set(store, table)
    }
    return table
  }
  /** The requests' slots, until their answers end. */
  const holds = new WeakMap<Authenticated, Hold>()

  return {
    /** Takes the request's concurrency slots (429 over a limit); held until its answer ends. */
    async open(s: Authenticated): Promise<Authenticated> {
      const { pack } = s.route
      if (pack.concurrency.length === 0) return s
      const subject = limitSubject(s)
      const hold = await takeSlots(
        s,
        rulesThatApply(pack.concurrency, subject),
        subject,
        tableFor(storeFor(s.env) ?? NO_STORE),
        names,
      )
      if (hold === null) return s
      hold.startRenewals()
      holds.set(s, hold)
      // Given back when the request fails before its answer, or the client goes away (the runtime aborts the request's signal).
      const release = (): void => s.keepUntil(hold.release())
      s.release = release
      s.request.signal?.addEventListener('abort', release)
      return s
    },

    /**
     * The answer on its way back: an SSE answer or a WebSocket is guarded (limits, rechecks, the
     * stream_end line); on a route with concurrency rules any other body is relayed so that its
     * slots come back when it ends.
     */
    watch(s: Authenticated, response: Response): Response {
      const hold = holds.get(s) ?? null
      const websocket = response.status === 101 && response.webSocket !== null && response.webSocket !== undefined
      const eventStream =
        !websocket &&
        response.body !== null &&
        (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')
      if (websocket || eventStream) {
        const guard = new StreamGuard(s.route.pack.streams, s.recheck, (summary) => {
          writeStreamEnd(s, websocket ? 'websocket' : 'sse', summary)
          if (hold !== null) s.keepUntil(hold.release())
        })
        return websocket
          ? guardedWebSocket(response, guard)
          : new Response(guardedEventStream(response.body as ReadableStream<Uint8Array>, guard), response)
      }
      if (hold === null) return response
      if (response.body === null) {
        s.keepUntil(hold.release())
        return response
      }
      // Relayed in JavaScript rather than piped natively (about the same cost, measured): the
      // slot comes back as the last chunk is handed over, before the client sees the end, so a
      // client's next request never meets its own previous one's slot.
      const relay = relayBody(response.body, { end: () => s.keepUntil(hold.release()) })
      return new Response(relay.stream, response)
    },
  }
}

/**
 * Takes a slot of every rule that applies, in order; the first refusal gives back the slots
 * taken before it. A store that cannot answer leaves the decision to the rule's `on_error`.
 */
async function takeSlots(
  s: Authenticated,
  rules: CompiledConcurrency[],
  subject: RateLimitSubject,
  table: SlotTable,
  names: BoundedMap<string, string>,
): Promise<Hold | null> {
  if (rules.length === 0) return null
  const pack = subject.pack
  const hold = new Hold(table)
  const counted: { rule: CompiledConcurrency; open: number }[] = []
  for (const rule of rules) {
    const value = keyValue(rule, subject)
    if (value === null) continue
    // A digest, not the value: ids and addresses stay out of the store's keys.
    const prefix = `${pack.id}:${rule.id}:`
    let counter = names.get(prefix + value)
    if (counter === undefined) {
      counter = prefix + (await sha256Hex(value)).slice(0, 32)
      names.set(prefix + value, counter)
    }
    const outcome = await table.acquire(rule, counter, s.requestId)
    const { failure } = outcome
    // Given back at the end, also when the store's answer never came: the call may have landed.
    if (outcome.kind === 'ok') hold.add({ rule, counter, held: outcome.value.held, slotId: outcome.value.slotId })
    else if (failure !== null) hold.add({ rule, counter, held: 'none', slotId: s.requestId })
    if (failure !== null) {
      const timedOut = failure.timedOut === true
      s.storeFailure = { rule: rule.id, onError: rule.onError, timedOut }
      if (rule.onError === 'deny') {
        s.keepUntil(hold.release())
        throw new GatewayError({ reason: 'store_unavailable', rule: rule.id })
      }
      s.noteDegraded({
        kind: rule.onError === 'allow' ? 'store_error' : 'store_local',
        source: rule.id,
        stale_for: null,
        problem: timedOut ? 'store call timed out' : 'store call failed',
      })
    }
    if (outcome.kind === 'refused') {
      s.keepUntil(hold.release())
      s.rateLimitFields =
        withConcurrency(s.rateLimitFields ?? undefined, rules, [...counted, { rule, open: outcome.refusal.open }]) ??
        null
      throw new GatewayError({
        reason: 'concurrency_limited',
        rule: rule.id,
        retryAfterSeconds: CONCURRENCY_RETRY_AFTER_S,
      })
    }
    counted.push({ rule, open: outcome.value.open })
  }
  s.rateLimitFields = withConcurrency(s.rateLimitFields ?? undefined, rules, counted) ?? null
  return hold
}

function writeStreamEnd(s: Authenticated, stream: 'sse' | 'websocket', summary: StreamSummary): void {
  const { invoker } = s.authentication
  const route = s.route
  writeStreamEndLine({
    event: 'stream_end',
    request_id: s.requestId,
    trace_id: s.trace.traceId,
    pack: route.pack.id,
    agent: route.agent?.name ?? null,
    invoker_id: invoker.id,
    invoker_kind: invoker.kind,
    stream,
    reason: summary.reason,
    problem: summary.problem,
    duration_ms: summary.durationMs,
    rechecks: summary.rechecks,
    recheck_errors: summary.recheckErrors,
  })
}
