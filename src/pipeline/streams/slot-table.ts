/**
 * Concurrency slots as this isolate sees them (issue 15). The slots themselves live in the store
 * (store/slots.ts, one atomic step per call), so a limit holds across isolates and locations;
 * the table only remembers what saves store calls and what the store cannot know:
 *
 * - which slots of each counter this isolate holds, so that one renewal call renews them all
 *   (made by whichever open request's timer comes first; the others see it was done);
 * - a refusal, for CONCURRENCY_REFUSAL_MEMORY_MS, unless one of this isolate's requests of that
 *   key ends meanwhile: a flood of one caller costs one store call per period;
 * - while the store fails (for STORE_FAILURE_BACKOFF_MS after a failure, without calling it),
 *   the requests `on_error: local` admitted on their own, at most the rule's `localLimit`.
 *
 * Every store call is made by the request it serves and awaited by that request alone (its own
 * acquire, its own release, a renewal its own timer started): no request ever waits on another
 * request's I/O, so none can resume inside another request's context (see lease-table.ts).
 *
 * @module
 */
import { CONCURRENCY_COUNTERS_MAX_ENTRIES, CONCURRENCY_REFUSAL_MEMORY_MS, CONCURRENCY_RENEWALS_PER_LEASE, STORE_FAILURE_BACKOFF_MS } from '../../constants.ts'
import type { CompiledConcurrency } from '../../policy/types.ts'
import { BoundedMap } from '../../store/bounded-map.ts'
import { StoreUnavailableError, unavailable, withTimeout, type GatewayStore } from '../../store/types.ts'

/** How a rule decided one request. */
export interface SlotOutcome {
  admitted: boolean
  /** Slots open for the key after the decision (as far as this isolate knows). */
  open: number
  /** How the slot is held: in the store, in this isolate only (`on_error: local`), or not at all. */
  held: 'store' | 'local' | 'none'
  /** Set when the store could not decide; the rule's `on_error` did. */
  failure: StoreUnavailableError | null
}

class Counter {
  /** Slot ids this isolate holds in the store. */
  readonly held = new Set<string>()
  /** Requests admitted by `on_error: local` and still open. */
  local = 0
  refusedUntil = 0
  renewedAt = 0
  failedUntil = 0
  failure: StoreUnavailableError | null = null
}

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
    if (now < c.refusedUntil) return { admitted: false, open: rule.limit, held: 'none', failure: null }
    if (now < c.failedUntil) return this.#degraded(rule, c, c.failure as StoreUnavailableError)
    try {
      const answer = await this.#call(counter, rule.limit, slotId, [], [])
      c.failedUntil = 0
      if (answer.acquired === true) {
        c.held.add(slotId)
        this.#counters.touch(counter)
        return { admitted: true, open: answer.open, held: 'store', failure: null }
      }
      c.refusedUntil = Date.now() + CONCURRENCY_REFUSAL_MEMORY_MS
      return { admitted: false, open: answer.open, held: 'none', failure: null }
    } catch (error) {
      const failure = unavailable(error)
      c.failedUntil = Date.now() + STORE_FAILURE_BACKOFF_MS
      c.failure = failure
      return this.#degraded(rule, c, failure)
    }
  }

  /** What `on_error` decides while the store cannot. */
  #degraded(rule: CompiledConcurrency, c: Counter, failure: StoreUnavailableError): SlotOutcome {
    switch (rule.onError) {
      case 'allow':
        return { admitted: true, open: 0, held: 'none', failure }
      case 'deny':
        return { admitted: false, open: 0, held: 'none', failure }
      case 'local':
        if (c.local >= rule.localLimit) return { admitted: false, open: c.local, held: 'none', failure }
        c.local++
        return { admitted: true, open: c.local, held: 'local', failure }
    }
  }

  /**
   * Gives a slot back when its request ends (also one decided without the store: an acquire
   * that timed out may still have reached it). Never throws; a release that fails is left to
   * the slot's expiry.
   */
  async release(rule: CompiledConcurrency, counter: string, slotId: string, held: SlotOutcome['held']): Promise<void> {
    const c = this.#counter(counter)
    c.held.delete(slotId)
    if (held === 'local') c.local = Math.max(0, c.local - 1)
    // A slot of this key is free now: the next request of the key asks the store again.
    c.refusedUntil = 0
    try {
      await this.#call(counter, rule.limit, null, [], [slotId])
    } catch {
      // The slot expires within one lease.
    }
  }

  /**
   * Renews every slot this isolate holds for `counter`, unless a renewal was made less than half
   * a renewal period ago (by another open request of the key). `slotId` is the caller's own slot,
   * held again if the table forgot it. Answers the caller's slot as lost when the store no
   * longer had it (the request then goes on uncounted). Never throws.
   */
  async renew(rule: CompiledConcurrency, counter: string, slotId: string, now = Date.now()): Promise<'renewed' | 'lost' | 'skipped' | 'failed'> {
    const c = this.#counter(counter)
    c.held.add(slotId)
    if (now - c.renewedAt < this.renewEveryMs / 2) return 'skipped'
    c.renewedAt = now
    const slots = [...c.held]
    try {
      const answer = await this.#call(counter, rule.limit, null, slots, [])
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
    return withTimeout(() => this.#store.slots({ counter, limit, leaseMs: this.#leaseMs, acquire, renew, release }), this.#timeoutMs).catch((error: unknown) => {
      throw unavailable(error)
    })
  }
}
