/**
 * Rate-limit counters as this isolate sees them (issue 13): quota leases, single-flight store
 * calls, free refusals and the degraded limiter, per counter, bounded by entries.
 *
 * - **Leases.** A store call takes a lease of units in one atomic step (store/algorithms.ts): the
 *   units the waiting requests need, plus headroom sized by the counter's recent rate in this
 *   isolate (LEASE_HORIZON_MS of it, at most LEASE_MAX_HEADROOM, and never more than half of
 *   what the store would have left). Requests are admitted from the lease with no store call.
 *   A lease ends with its window (or the token bucket's next refill); one older than
 *   LEASE_MAX_AGE_MS gives its unspent units back in the call that renews it.
 * - **Single flight.** One store call per counter at a time: requests that find no units wait for
 *   the call in flight and share its lease; those it could not cover start the next call. A
 *   request's `store_timeout` runs from the start of the store call it waits for, so time spent
 *   behind other requests in the isolate never counts against the store.
 * - **Free refusals.** A grant that leaves the store at 0 says when the counter frees again;
 *   until then, once the lease is spent, the isolate refuses on its own.
 * - **Failure.** A call that fails or outlasts `store_timeout` ends in the rule's `on_error`
 *   for every request waiting on it, and for STORE_FAILURE_BACKOFF_MS after it without calling
 *   the store. `local` first spends the lease, then admits up to the rule's `localLimit` per
 *   window in this isolate (the same algorithm, in memory); what it admitted is charged to the
 *   store with the next call that succeeds. A late answer to a timed-out call becomes the lease.
 *
 * @module
 */
import {
  LEASE_HEADROOM_DIVISOR,
  LEASE_HORIZON_MS,
  LEASE_MAX_AGE_MS,
  LEASE_MAX_HEADROOM,
  RATE_LIMIT_COUNTERS_MAX_ENTRIES,
  STORE_FAILURE_BACKOFF_MS,
  STORE_WAIT_GRACE_MS,
} from '../../constants.ts'
import { sha256Hex } from '../../keys/digest.ts'
import type { CompiledRateLimit, RateLimitAlgorithm } from '../../policy/types.ts'
import { leaseStep, type Adjustment, type CounterState } from '../../store/algorithms.ts'
import { BoundedMap } from '../../store/bounded-map.ts'
import { attempt, StoreUnavailableError, unavailable, type GatewayStore, type LeaseGrant, type RateLimitOutcome } from '../../store/types.ts'

/** A rule's decision for one request; `failure` is set when the store could not decide it. */
export interface Taken extends RateLimitOutcome {
  failure: StoreUnavailableError | null
}

/** A waiter told to look again: units came, or its turn to start the next store call. */
const RETRY = Symbol('retry')
type Outcome = Taken | typeof RETRY

interface Waiter {
  resolve(outcome: Outcome): void
  done: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

/** One store call in flight for a counter. */
interface Flight {
  /** When store_timeout ends for this call (from its start; the digest before it is not counted). */
  deadline: number
  /** Answered, failed, or given up on; a later answer only adds units. */
  settled: boolean
  call: Promise<LeaseGrant> | null
}

class Counter {
  /** Raw key value, kept only until the store name (a digest of it) is known. */
  value: string
  readonly prefix: string
  storeName: string | null = null
  units = 0
  epoch = 0
  epochEnds = 0
  renewAt = 0
  storeRemaining = 0
  resetAt = 0
  /** Once the lease is spent, refuse without the store until then. */
  blockedUntil = 0
  waiters: Waiter[] = []
  flight: Flight | null = null
  /** Requests seen since `demandSince` (the last call's start): the rate that sizes headroom. */
  demand = 0
  demandSince: number | null = null
  adjust: Adjustment | null = null
  failedUntil = 0
  failure: StoreUnavailableError | null = null
  /** The degraded limiter's state (`on_error: local`); kept across failures within a window. */
  local: CounterState | null = null

  constructor(prefix: string, value: string) {
    this.prefix = prefix
    this.value = value
  }
}

export class LeaseTable {
  readonly #store: GatewayStore
  readonly #timeoutMs: number
  readonly #counters: BoundedMap<string, Counter>
  #storeCalls = 0

  constructor(store: GatewayStore, timeoutMs: number, maxEntries = RATE_LIMIT_COUNTERS_MAX_ENTRIES) {
    this.#store = store
    this.#timeoutMs = timeoutMs
    this.#counters = new BoundedMap(maxEntries)
  }

  /** Counters held (bounded by `maxEntries`). */
  get size(): number {
    return this.#counters.size
  }

  /** Lease calls this table has made to the store. */
  get storeCalls(): number {
    return this.#storeCalls
  }

  /**
   * Counts one request against the counter `prefix + value` (prefix names pack and rule). Answers
   * at once when the lease, a known refusal or a failing store decides, else once the store call
   * it waits for has.
   */
  take(rule: CompiledRateLimit, prefix: string, value: string, now = Date.now()): Taken | Promise<Taken> {
    const key = prefix + value
    let c = this.#counters.get(key)
    if (c === undefined) {
      c = new Counter(prefix, value)
      this.#counters.set(key, c)
    }
    const decided = this.#decideNow(rule, c, now)
    if (decided !== null) return decided
    c.demand++
    return this.#wait(rule, key, c)
  }

  /** The answer without the store: from the lease, a known refusal, or the failure backoff. */
  #decideNow(rule: CompiledRateLimit, c: Counter, now: number): Taken | null {
    if (c.units > 0 && now < c.epochEnds && (now < c.renewAt || now < c.failedUntil)) {
      c.units--
      c.demand++
      return admitted(rule.limit, c.storeRemaining + c.units, c.resetAt, now)
    }
    if (c.units === 0 && now < c.blockedUntil) return refused(rule.limit, c.resetAt, c.blockedUntil, null)
    if (now < c.failedUntil) return this.#degraded(rule, c, now, c.failure as StoreUnavailableError)
    return null
  }

  /**
   * Waits for the counter's store call, starting it if none is in flight. Runs in the waiting
   * request's own context: the call it starts is that request's I/O, and its timer keeps it alive.
   */
  async #wait(rule: CompiledRateLimit, key: string, c: Counter): Promise<Taken> {
    for (;;) {
      const waiter: Waiter = { resolve: () => undefined, done: false, timer: undefined }
      const outcome = await new Promise<Outcome>((resolve) => {
        waiter.resolve = resolve
        c.waiters.push(waiter)
        if (c.flight === null) void this.#call(rule, key, c)
        this.#arm(rule, c, waiter)
      })
      if (waiter.timer !== undefined) clearTimeout(waiter.timer)
      if (outcome !== RETRY) return outcome
      const decided = this.#decideNow(rule, c, Date.now())
      if (decided !== null) return decided
    }
  }

  /** The waiter's own timer: due STORE_WAIT_GRACE_MS after the call's deadline. */
  #arm(rule: CompiledRateLimit, c: Counter, waiter: Waiter): void {
    const deadline = c.flight?.deadline ?? Date.now() + this.#timeoutMs
    waiter.timer = setTimeout(() => this.#onWaiterTimer(rule, c, waiter), Math.max(0, deadline + STORE_WAIT_GRACE_MS - Date.now()))
  }

  #onWaiterTimer(rule: CompiledRateLimit, c: Counter, waiter: Waiter): void {
    if (waiter.done) return
    const flight = c.flight
    if (flight === null) return settle(waiter, RETRY)
    if (Date.now() < flight.deadline + STORE_WAIT_GRACE_MS) return this.#arm(rule, c, waiter)
    // The call outlived its deadline and nobody ended it (its request may be gone): give up on it.
    flight.settled = true
    c.flight = null
    this.#fail(rule, c, new StoreUnavailableError(`no answer within ${this.#timeoutMs} ms`, true), flight.call)
  }

  async #call(rule: CompiledRateLimit, key: string, c: Counter): Promise<void> {
    const flight: Flight = { deadline: Date.now() + this.#timeoutMs, settled: false, call: null }
    c.flight = flight
    this.#counters.touch(key)
    let outcome: LeaseGrant | StoreUnavailableError
    try {
      if (c.storeName === null) {
        // A digest, not the value: ids and addresses stay out of the store's keys.
        c.storeName = `${c.prefix}${(await sha256Hex(c.value)).slice(0, 32)}`
        c.value = ''
        if (flight.settled) return
      }
      const now = Date.now()
      if (c.units > 0) {
        // An aged or ended lease: its unspent units go back in this call.
        c.adjust = merge(rule.algorithm, c.adjust, { epoch: c.epoch, units: c.units })
        c.units = 0
      }
      const request = {
        counter: c.storeName,
        algorithm: rule.algorithm,
        limit: rule.limit,
        windowMs: rule.windowMs,
        want: Math.max(1, c.waiters.length),
        extra: headroom(c, now),
        adjust: c.adjust,
      }
      // Sent once: if the call fails after the store applied it, sending it again would count it twice.
      c.adjust = null
      this.#storeCalls++
      flight.deadline = now + this.#timeoutMs
      flight.call = attempt(() => this.#store.lease(request))
      outcome = await this.#bounded(flight.call)
    } catch (error) {
      outcome = unavailable(error)
    }
    // Given up on by a waiter's timer meanwhile: its late answer is handled by #fail's hook.
    if (flight.settled) return
    flight.settled = true
    c.flight = null
    if (outcome instanceof Error) this.#fail(rule, c, outcome, outcome.timedOut ? flight.call : null)
    else this.#apply(rule, key, c, outcome)
  }

  /** The store call, or its failure once `store_timeout` has passed since it started. */
  async #bounded(call: Promise<LeaseGrant>): Promise<LeaseGrant | StoreUnavailableError> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<StoreUnavailableError>((resolve) => {
      timer = setTimeout(() => resolve(new StoreUnavailableError(`no answer within ${this.#timeoutMs} ms`, true)), this.#timeoutMs)
    })
    try {
      return await Promise.race([call, deadline])
    } catch (error) {
      return unavailable(error)
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }

  #apply(rule: CompiledRateLimit, key: string, c: Counter, grant: LeaseGrant): void {
    const now = Date.now()
    c.failedUntil = 0
    c.failure = null
    c.units = grant.granted
    c.epoch = grant.epoch
    c.epochEnds = grant.epochEnds
    c.renewAt = now + LEASE_MAX_AGE_MS
    c.storeRemaining = grant.remaining
    c.resetAt = grant.resetAt
    c.blockedUntil = grant.remaining === 0 ? grant.retryAt : 0
    const waiters = c.waiters
    c.waiters = []
    let served = 0
    for (; served < waiters.length && c.units > 0; served++) {
      c.units--
      settle(waiters[served] as Waiter, admitted(rule.limit, c.storeRemaining + c.units, c.resetAt, now))
    }
    if (served === waiters.length) return
    if (grant.remaining === 0) {
      // The store is out until retryAt: refuse the rest here, and everyone after them until then.
      this.#counters.touch(key)
      for (; served < waiters.length; served++) settle(waiters[served] as Waiter, refused(rule.limit, c.resetAt, grant.retryAt, null))
      return
    }
    // More requests arrived during the call than it asked for. They stay queued (so the next
    // call asks for all of them), and the first is woken to start it from its own request. Should
    // that request be gone, the others' timers wake them to do it.
    c.waiters = waiters.slice(served + 1)
    settle(waiters[served] as Waiter, RETRY)
  }

  #fail(rule: CompiledRateLimit, c: Counter, failure: StoreUnavailableError, call: Promise<LeaseGrant> | null): void {
    const now = Date.now()
    c.failedUntil = now + STORE_FAILURE_BACKOFF_MS
    c.failure = failure
    if (failure.timedOut && call !== null) {
      // The store may still answer: use what it granted (or give it back if a lease came first).
      call.then(
        (late) => {
          if (c.units === 0 && c.flight === null && Date.now() < late.epochEnds) {
            c.units = late.granted
            c.epoch = late.epoch
            c.epochEnds = late.epochEnds
            c.renewAt = Date.now() + LEASE_MAX_AGE_MS
            c.storeRemaining = late.remaining
            c.resetAt = late.resetAt
          } else if (late.granted > 0) c.adjust = merge(rule.algorithm, c.adjust, { epoch: late.epoch, units: late.granted })
        },
        () => undefined,
      )
    }
    const waiters = c.waiters
    c.waiters = []
    for (const waiter of waiters) settle(waiter, this.#degraded(rule, c, now, failure))
  }

/** What `on_error` decides while the store cannot. */
  #degraded(rule: CompiledRateLimit, c: Counter, now: number, failure: StoreUnavailableError): Taken {
    switch (rule.onError) {
      case 'allow':
        return { ...admitted(rule.limit, 0, 0, now), failure }
      case 'deny':
        return refused(rule.limit, 0, now, failure)
      case 'local': {
        if (c.units > 0 && now < c.epochEnds) {
          c.units--
          return { ...admitted(rule.limit, c.units, c.resetAt, now), failure }
        }
        const step = leaseStep(
          { algorithm: rule.algorithm, limit: rule.localLimit, windowMs: rule.windowMs, now, want: 1, extra: 0, adjust: null, divisor: LEASE_HEADROOM_DIVISOR },
          c.local,
        )
        c.local = step.state
        const { grant } = step
        if (grant.granted === 0) return refused(rule.localLimit, grant.resetAt, grant.retryAt, failure)
        // The store has not counted it: charge it with the next call that succeeds.
        c.adjust = merge(rule.algorithm, c.adjust, { epoch: grant.epoch, units: -1 })
        return { ...admitted(rule.localLimit, grant.remaining, grant.resetAt, now), failure }
      }
    }
  }
}

function settle(waiter: Waiter, outcome: Outcome): void {
  if (waiter.done) return
  waiter.done = true
  waiter.resolve(outcome)
}

function admitted(limit: number, remaining: number, resetAt: number, now: number): Taken {
  return { allowed: true, limit, remaining, resetAt, retryAt: now, failure: null }
}

function refused(limit: number, resetAt: number, retryAt: number, failure: StoreUnavailableError | null): Taken {
  return { allowed: false, limit, remaining: 0, resetAt, retryAt, failure }
}

/**
 * Headroom for the next lease: the counter's rate in this isolate since the last call, times
 * LEASE_HORIZON_MS, capped. The first call of a counter has no rate yet and takes none.
 */
function headroom(c: Counter, now: number): number {
  const since = c.demandSince
  const demand = c.demand
  c.demandSince = now
  c.demand = 0
  if (since === null) return 0
  return Math.min(LEASE_MAX_HEADROOM, Math.floor((demand * LEASE_HORIZON_MS) / Math.max(1, now - since)))
}

/**
 * One pending adjustment per counter: units for the same lease period add up; for a token
 * bucket they always do (giving tokens back is exact whenever it happens); otherwise the newer
 * period wins, since a fixed window no longer cares about an older one (a sliding window loses
 * at most what an older lease left, which only under-admits).
 */
function merge(algorithm: RateLimitAlgorithm, a: Adjustment | null, b: Adjustment): Adjustment {
  if (a === null) return b
  if (algorithm === 'token_bucket' || a.epoch === b.epoch) return { epoch: Math.max(a.epoch, b.epoch), units: a.units + b.units }
  return a.epoch > b.epoch ? a : b
}
