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
import { BoundedMap } from '../../store/bounded-map.ts'
import { type StoreUnavailableError, unavailable, withTimeout, type GatewayStore } from '../../store/types.ts'

/** How a rule decided one request. */
export interface SlotOutcome {
  admitted: boolean
  /** Slots open for the key after the decision (as far as this isolate knows). */
  open: number
  /** How the slot is held: in the store, in this isolate only (`on_error: local`), or not at all. */
  held: 'store' | 'local' | 'none'
  /** The slot's id in the store: the request's own, or that of a parked slot it took over. */
  slotId: string
  /** Set when the store could not decide; the rule's `on_error` did. */
  failure: StoreUnavailableError | null
}

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
  failure: StoreUnavailableError | null = null
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
      return { admitted: true, open: c.open, held: 'store', failure: null, slotId: parked }
    }
    if (now < c.refusedUntil) return { admitted: false, open: rule.limit, held: 'none', failure: null, slotId }
    if (now < c.failedUntil) return this.#degraded(rule, c, c.failure as StoreUnavailableError, slotId)
    try {
      const answer = await this.#call(counter, rule.limit, slotId, [], [])
      c.failedUntil = 0
      c.open = answer.open
      if (answer.acquired === true) {
        c.held.add(slotId)
        this.#counters.touch(counter)
        return { admitted: true, open: answer.open, held: 'store', failure: null, slotId }
      }
      c.refusedUntil = Date.now() + CONCURRENCY_REFUSAL_MEMORY_MS
      return { admitted: false, open: answer.open, held: 'none', failure: null, slotId }
    } catch (error) {
      const failure = unavailable(error)
      c.failedUntil = Date.now() + STORE_FAILURE_BACKOFF_MS
      c.failure = failure
      return this.#degraded(rule, c, failure, slotId)
    }
  }

  /** What `on_error` decides while the store cannot. */
  #degraded(rule: CompiledConcurrency, c: Counter, failure: StoreUnavailableError, slotId: string): SlotOutcome {
    switch (rule.onError) {
      case 'allow':
        return { admitted: true, open: 0, held: 'none', failure, slotId }
      case 'deny':
        return { admitted: false, open: 0, held: 'none', failure, slotId }
      case 'local':
        if (c.local >= rule.localLimit) return { admitted: false, open: c.local, held: 'none', failure, slotId }
        c.local++
        return { admitted: true, open: c.local, held: 'local', failure, slotId }
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
  release(rule: CompiledConcurrency, counter: string, slotId: string, held: SlotOutcome['held']): Promise<void> {
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
    try {
      const answer = await this.#call(counter, rule.limit, null, [], slots)
      c.open = answer.open
    } catch {
      // The slots expire within one lease.
    }
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
    try {
      const answer = await this.#call(counter, rule.limit, null, slots, [])
      c.open = answer.open
      for (const id of answer.lost) c.held.delete(id)
      return answer.lost.includes(slotId) ? 'lost' : 'renewed'
    } catch {
      // Two more renewals come before the slots expire.
      c.renewedAt = 0
      return 'failed'
    }
  }

  #call(counter: string, limit: number, acquire: string | null, renew: string[], release: string[]) {
    this.#storeCalls++
    return withTimeout(
      () => this.#store.slots({ counter, limit, leaseMs: this.#leaseMs, acquire, renew, release }),
      this.#timeoutMs,
    ).catch((error: unknown) => {
      throw unavailable(error)
    })
  }
}
