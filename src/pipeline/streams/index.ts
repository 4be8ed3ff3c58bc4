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
import type { Context, MiddlewareHandler } from 'hono'
import { CONCURRENCY_COUNTERS_MAX_ENTRIES, CONCURRENCY_RETRY_AFTER_S } from '../../constants.ts'
import { noteDegraded } from '../../degraded.ts'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { sha256Hex } from '../../keys/digest.ts'
import { writeStreamEndLine } from '../../log.ts'
import type { CompiledConcurrency, CompiledPolicy } from '../../policy/types.ts'
import { BoundedMap } from '../../store/bounded-map.ts'
import { storeFor, UnavailableStore } from '../../store/index.ts'
import type { GatewayStore } from '../../store/types.ts'
import { clientAddress } from '../authenticate/anonymous.ts'
import { withConcurrency } from '../rate-limit/headers.ts'
import { keyValue, rulesThatApply, type RateLimitSubject } from '../rate-limit/rules.ts'
import { StreamGuard, type StreamSummary } from './guard.ts'
import { Hold } from './hold.ts'
import { relayBody } from './relay.ts'
import { SlotTable } from './slot-table.ts'
import { guardedEventStream } from './sse.ts'
import { guardedWebSocket } from './websocket.ts'

/** Without a store, every rule's on_error decides. */
const NO_STORE = new UnavailableStore('no store is configured')

export const streams = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> => {
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

  return async function streams(c, next) {
    const { pack, agent } = c.get('route')
    let hold: Hold | null = null
    if (pack.concurrency.length > 0) {
      const subject: RateLimitSubject = { pack, agent, authentication: c.get('authentication'), method: c.get('method'), clientAddress: clientAddress(c.req.raw.headers) }
      hold = await takeSlots(c, rulesThatApply(pack.concurrency, subject), subject, tableFor(storeFor(c.env) ?? NO_STORE), names)
    }
    if (hold !== null) {
      hold.startRenewals()
      // A client that goes away before the answer (the runtime aborts the request's signal).
      const held = hold
      c.req.raw.signal?.addEventListener('abort', () => keepUntil(c, held.release()))
    }
    await next()
    const response = c.res
    // A refusal or failure further on (onError's answer): the request is over.
    if (c.error !== undefined) {
      if (hold !== null) keepUntil(c, hold.release())
      return
    }
    const websocket = response.status === 101 && response.webSocket !== null && response.webSocket !== undefined
    const eventStream = !websocket && response.body !== null && (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')
    if (websocket || eventStream) {
      const guard = new StreamGuard(pack.streams, c.get('recheck') ?? null, (summary) => {
        writeStreamEnd(c, websocket ? 'websocket' : 'sse', summary)
        if (hold !== null) keepUntil(c, hold.release())
      })
      replaceResponse(c, websocket ? guardedWebSocket(response, guard) : new Response(guardedEventStream(response.body as ReadableStream<Uint8Array>, guard), response))
      return
    }
    if (hold === null) return
    if (response.body === null) {
      keepUntil(c, hold.release())
      return
    }
    // Relayed in JavaScript rather than piped natively (about the same cost, measured): the
    // slot comes back as the last chunk is handed over, before the client sees the end, so a
    // client's next request never meets its own previous one's slot.
    const held = hold
    const relay = relayBody(response.body, { end: () => keepUntil(c, held.release()) })
    replaceResponse(c, new Response(relay.stream, response))
  }
}

/**
 * Takes a slot of every rule that applies, in order; the first refusal gives back the slots
 * taken before it. A store that cannot answer leaves the decision to the rule's `on_error`.
 */
async function takeSlots(c: Context<GatewayEnv>, rules: CompiledConcurrency[], subject: RateLimitSubject, table: SlotTable, names: BoundedMap<string, string>): Promise<Hold | null> {
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
    const outcome = await table.acquire(rule, counter, c.get('requestId'))
    // Given back at the end even when the store's answer never came: the call may have landed.
    if (outcome.admitted || outcome.failure !== null) hold.add({ rule, counter, held: outcome.held, slotId: outcome.slotId })
    if (outcome.failure !== null) {
      c.set('storeFailure', { rule: rule.id, onError: rule.onError, timedOut: outcome.failure.timedOut })
      if (rule.onError === 'deny') {
        keepUntil(c, hold.release())
        throw new GatewayError({ reason: 'store_unavailable', rule: rule.id })
      }
      noteDegraded(c, { kind: rule.onError === 'allow' ? 'store_error' : 'store_local', source: rule.id, stale_for: null, problem: outcome.failure.timedOut ? 'store call timed out' : 'store call failed' })
    }
    if (!outcome.admitted) {
      keepUntil(c, hold.release())
      c.set('rateLimitHeaders', withConcurrency(c.get('rateLimitHeaders'), rules, [...counted, { rule, open: outcome.open }]))
      throw new GatewayError({ reason: 'concurrency_limited', rule: rule.id, retryAfterSeconds: CONCURRENCY_RETRY_AFTER_S })
    }
    counted.push({ rule, open: outcome.open })
  }
  c.set('rateLimitHeaders', withConcurrency(c.get('rateLimitHeaders'), rules, counted))
  return hold
}

/** Swaps the response (hono merges the old one's headers into a new one unless it is cleared first). */
function replaceResponse(c: Context<GatewayEnv>, response: Response): void {
  c.res = undefined
  c.res = response
}

/** Work that must finish even if the client is gone: the runtime keeps the request alive for it. */
function keepUntil(c: Context<GatewayEnv>, work: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(work)
  } catch {
    // No execution context (a test calling the app directly): the promise still runs.
  }
}

function writeStreamEnd(c: Context<GatewayEnv>, stream: 'sse' | 'websocket', summary: StreamSummary): void {
  const { invoker } = c.get('authentication')
  const route = c.get('route')
  writeStreamEndLine({
    event: 'stream_end',
    request_id: c.get('requestId'),
    trace_id: c.get('trace').traceId,
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
