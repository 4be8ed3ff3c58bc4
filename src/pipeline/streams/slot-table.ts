/**
 * Concurrency slots as this isolate sees them (issue 15). The slots themselves live in the store
 * (store/slots.ts, one atomic step per call), so a limit holds across isolates and locations;
 * the table only remembers what saves store calls and what the store cannot know:
 *
 * - which slots of each counter this isolate holds, so that one renewal call renews them all
 *   (made by whichever open request's timer comes first; the others see it was done);
 * - a refusal, for CONCURRENCY_REFUSAL_MEMORY_MS, unless one of this isolate's requests of that
 *   key ends meanwhile: a flood of one caller costs one store call per period;
 * - slots whose requests just ended, parked for up to CONCURRENCY_SLOT_PARK_MS before they are
 *   given back together: a request of the same key that starts meanwhile takes one over, still
 *   taken in the store, with no store call at either end (the slot was counted all along: one
 *   request ended, another began);
 * - while the store fails (for STORE_FAILURE_BACKOFF_MS after a failure, without calling it),
 *   the requests `on_error: local` admitted on their own, at most the rule's `localLimit`.
 *
 * Every store call is made by the request it serves and awaited by that request alone (its own
 * acquire, its own release, a renewal its own timer started; parked slots are given back by the
 * request whose sweep is due, kept alive by `waitUntil`, and nobody waits for it): no request ever
 * waits on another request's I/O, so none can resume inside another request's context (see
 * lease-table.ts).
 *
 * @module
 */
import {
  CONCURRENCY_COUNTERS_MAX_ENTRIES,
  CONCURRENCY_REFUSAL_MEMORY_MS,
  CONCURRENCY_RENEWALS_PER_LEASE,
  CONCURRENCY_SLOT_PARK_MS,
  STORE_FAILURE_BACKOFF_MS,
} from '../../constants.ts'
import type { CompiledConcurrency } from '../../policy/types.ts'
import { ok, type Decided, type Outcome, type Unavailable } from '../../outcome.ts'
import { BoundedMap } from '../../store/bounded-map.ts'
import type { SlotAnswer } from '../../store/slots.ts'
import { storeUnavailable, withTimeout, type GatewayStore } from '../../store/types.ts'

/** How a slot is held: in the store, in this isolate only (`on_error: local`), or not at all. */
export type SlotHeld = 'store' | 'local' | 'none'

/** A request admitted by a rule. */
export interface SlotAdmission {
  /** Slots open for the key after the decision (as far as this isolate knows). */
  open: number
  held: SlotHeld
  /** The slot's id in the store: the request's own, or that of a parked slot it took over. */
  slotId: string
}

/** A request refused by a rule: slots open for the key (as far as this isolate knows). */
export interface SlotRefusal {
  open: number
}

/** How a rule decided one request; `failure` is set when the store could not decide and `on_error` did. */
export type SlotOutcome = Decided<SlotAdmission, SlotRefusal>

class Counter {
  /** Slot ids this isolate holds in the store for open requests. */
  readonly held = new Set<string>()
  /** Slots of requests that ended, still taken in the store, waiting to be taken over or given back. */
  readonly parked = new Set<string>()
  /** Slots open for the key at the store's last answer. */
  open = 0
  /** The sweep that gives parked slots back, when one is due (made by the request that parked first). */
  sweep: Promise<void> | null = null
  /** Requests admitted by `on_error: local` and still open. */
  local = 0
  refusedUntil = 0
  renewedAt = 0
  failedUntil = 0
  failure: Unavailable | null = null
}

const DONE = Promise.resolve()

export class SlotTable {
  readonly #store: GatewayStore
  readonly #timeoutMs: number
  readonly #leaseMs: number
  readonly #counters: BoundedMap<string, Counter>
  #storeCalls = 0

  constructor(store: GatewayStore, timeoutMs: number, leaseMs: number, maxEntries = CONCURRENCY_COUNTERS_MAX_ENTRIES) {
    this.#store = store
    this.#timeoutMs = timeoutMs
    this.#leaseMs = leaseMs
    this.#counters = new BoundedMap(maxEntries)
  }

  /** Slot calls this table has made to the store (tests, bench). */
  get storeCalls(): number {
    return this.#storeCalls
  }

  /** Time between two renewals of an open request's slot. */
  get renewEveryMs(): number {
    return Math.floor(this.#leaseMs / CONCURRENCY_RENEWALS_PER_LEASE)
  }

  #counter(name: string): Counter {
    let c = this.#counters.get(name)
    if (c === undefined) {
      c = new Counter()
      this.#counters.set(name, c)
    }
    return c
  }

  /** Takes a slot of `counter` for the request `slotId`; one store call unless a refusal or a failing store decides. */
  async acquire(rule: CompiledConcurrency, counter: string, slotId: string, now = Date.now()): Promise<SlotOutcome> {
    const c = this.#counter(counter)
    for (const parked of c.parked) {
      c.parked.delete(parked)
      c.held.add(parked)
      return admitted(c.open, 'store', parked, null)
    }
    if (now < c.refusedUntil) return refused(rule.limit, null)
    if (now < c.failedUntil) return this.#degraded(rule, c, c.failure as Unavailable, slotId)
    const answer = await this.#call(counter, rule.limit, slotId, [], [])
    if (answer.kind === 'unavailable') {
      c.failedUntil = Date.now() + STORE_FAILURE_BACKOFF_MS
      c.failure = answer
      return this.#degraded(rule, c, answer, slotId)
    }
    const { open, acquired } = answer.value
    c.failedUntil = 0
    c.open = open
    if (acquired === true) {
      c.held.add(slotId)
      this.#counters.touch(counter)
      return admitted(open, 'store', slotId, null)
    }
    c.refusedUntil = Date.now() + CONCURRENCY_REFUSAL_MEMORY_MS
    return refused(open, null)
  }

  /** What `on_error` decides while the store cannot. */
  #degraded(rule: CompiledConcurrency, c: Counter, failure: Unavailable, slotId: string): SlotOutcome {
    switch (rule.onError) {
      case 'allow':
        return admitted(0, 'none', slotId, failure)
      case 'deny':
        return refused(0, failure)
      case 'local':
        if (c.local >= rule.localLimit) return refused(c.local, failure)
        c.local++
        return admitted(c.local, 'local', slotId, failure)
    }
  }

  /**
   * Gives a slot back when its request ends (also one decided without the store: an acquire
   * that timed out may still have reached it). A slot held in the store is parked instead: the
   * first request to park one of a key (when no sweep is due) sweeps CONCURRENCY_SLOT_PARK_MS
   * later, giving back in one store call every slot of the key still parked then; its caller
   * keeps the returned promise alive (`waitUntil`), the others have nothing left to do. Never
   * throws; a release that fails is left to the slots' expiry.
   */
  release(rule: CompiledConcurrency, counter: string, slotId: string, held: SlotHeld): Promise<void> {
    const c = this.#counter(counter)
    c.held.delete(slotId)
    if (held === 'local') c.local = Math.max(0, c.local - 1)
    // A slot of this key is free now: the next request of the key asks the store again.
    c.refusedUntil = 0
    if (held !== 'store') return this.#giveBack(rule, counter, c, [slotId])
    c.parked.add(slotId)
    if (c.sweep !== null) return DONE
    c.sweep = this.#sweep(rule, counter, c)
    return c.sweep
  }

  async #sweep(rule: CompiledConcurrency, counter: string, c: Counter): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, CONCURRENCY_SLOT_PARK_MS))
    const slots = [...c.parked]
    c.parked.clear()
    c.sweep = null
    if (slots.length > 0) await this.#giveBack(rule, counter, c, slots)
  }

  async #giveBack(rule: CompiledConcurrency, counter: string, c: Counter, slots: string[]): Promise<void> {
    const answer = await this.#call(counter, rule.limit, null, [], slots)
    // A failed release is left to the slots' expiry, within one lease.
    if (answer.kind === 'ok') c.open = answer.value.open
  }

  /**
   * Renews every slot this isolate holds for `counter`, unless a renewal was made less than half
   * a renewal period ago (by another open request of the key). `slotId` is the caller's own slot,
   * held again if the table forgot it. Answers the caller's slot as lost when the store no
   * longer had it (the request then goes on uncounted). Never throws.
   */
  async renew(
    rule: CompiledConcurrency,
    counter: string,
    slotId: string,
    now = Date.now(),
  ): Promise<'renewed' | 'lost' | 'skipped' | 'failed'> {
    const c = this.#counter(counter)
    c.held.add(slotId)
    if (now - c.renewedAt < this.renewEveryMs / 2) return 'skipped'
    c.renewedAt = now
    const slots = [...c.held]
    const answer = await this.#call(counter, rule.limit, null, slots, [])
    if (answer.kind === 'unavailable') {
      // Two more renewals come before the slots expire.
      c.renewedAt = 0
      return 'failed'
    }
    const { open, lost } = answer.value
    c.open = open
    for (const id of lost) c.held.delete(id)
    return lost.includes(slotId) ? 'lost' : 'renewed'
  }

  /** One store call, bounded by `store_timeout`; never rejects: the edge where the store's errors become an `Outcome`. */
  #call(
    counter: string,
    limit: number,
    acquire: string | null,
    renew: string[],
    release: string[],
  ): Promise<Outcome<SlotAnswer>> {
    this.#storeCalls++
    return withTimeout(
      () => this.#store.slots({ counter, limit, leaseMs: this.#leaseMs, acquire, renew, release }),
      this.#timeoutMs,
    ).then((answer) => ok(answer), storeUnavailable)
  }
}

function admitted(open: number, held: SlotHeld, slotId: string, failure: Unavailable | null): SlotOutcome {
  return { kind: 'ok', value: { open, held, slotId }, failure }
}

function refused(open: number, failure: Unavailable | null): SlotOutcome {
  return { kind: 'refused', refusal: { open }, failure }
}
