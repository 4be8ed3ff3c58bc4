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
 * - **Single flight.** One store call per counter at a time, asking for every request waiting:
 *   requests that find no units follow the call in flight and take its units as they resume; if
 *   others took them first, the next call starts from a request that still waits (never from one
 *   about to finish: on Workers its I/O would end with it). A request's `store_timeout` runs from
 *   the start of the store call it waits for, so time spent behind other requests in the isolate
 *   never counts against the store.
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
import { ok, type Decided, type Outcome, type Unavailable } from '../../outcome.ts'
import { BoundedMap } from '../../store/bounded-map.ts'
import {
  attempt,
  storeTimedOut,
  storeUnavailable,
  type GatewayStore,
  type LeaseGrant,
  type RateLimitAdmission,
  type RateLimitRefusal,
} from '../../store/types.ts'

/**
 * A rule's decision for one request: `ok` with the RateLimit numbers, or `refused` with when to
 * retry; `failure` is set when the store could not decide it and the rule's `on_error` did.
 */
export type Taken = Decided<RateLimitAdmission, RateLimitRefusal>

/** One store call in flight for a counter. */
interface Flight {
  /** When store_timeout ends for this call (from its start; the digest before it is not counted). */
  deadline: number
  /** Answered, failed, or given up on; a later answer only adds units. */
  settled: boolean
  /**
   * Settles once the call has been decided. Made by the request that started the call, and only
   * followed by the others: on Workers, a request that awaits a promise of another request's
   * context waits on it as its own I/O and resumes in its own context (workerd's promise context
   * tagging), whereas one whose own promise is resolved from another request resumes inside that
   * other request, and its later I/O dies with it.
   */
  done: Promise<void>
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
  /** Requests waiting for the store; the next call asks for all of them. */
  waiting = 0
  flight: Flight | null = null
  /** Requests that arrived since `demandSince` (the last call's start): the rate that sizes headroom. */
  demand = 0
  demandSince: number | null = null
  adjust: Adjustment | null = null
  failedUntil = 0
  failure: Unavailable | null = null
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
  /** What a call that outlasted `store_timeout` ended in (made once: it names only the bound). */
  readonly #timedOut: Unavailable
  readonly #counters: BoundedMap<string, Counter>
  #storeCalls = 0

  constructor(store: GatewayStore, timeoutMs: number, maxEntries = RATE_LIMIT_COUNTERS_MAX_ENTRIES) {
    this.#store = store
    this.#timeoutMs = timeoutMs
    this.#timedOut = storeTimedOut(timeoutMs)
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
    c.demand++
    const decided = this.#decideNow(rule, c, now)
    if (decided !== null) return decided
    return this.#wait(rule, key, c)
  }

  /** The answer without the store: from the lease, a known refusal, or the failure backoff. */
  #decideNow(rule: CompiledRateLimit, c: Counter, now: number): Taken | null {
    if (c.units > 0 && now < c.epochEnds && (now < c.renewAt || now < c.failedUntil)) {
      c.units--
      return admitted(rule.limit, c.storeRemaining + c.units, c.resetAt, null)
    }
    if (c.units === 0 && now < c.blockedUntil) return refused(rule.limit, c.resetAt, c.blockedUntil, null)
    if (now < c.failedUntil) return this.#degraded(rule, c, now, c.failure as Unavailable)
    return null
  }

  /**
   * Waits for the counter's store call (starting one, from this request, when none is in
   * flight), then decides in this request's own context from what the call left: units, a
   * refusal, or a failure. Units taken by others first mean another call.
   */
  async #wait(rule: CompiledRateLimit, key: string, c: Counter): Promise<Taken> {
    c.waiting++
    try {
      for (;;) {
        const flight = c.flight ?? this.#start(rule, key, c)
        await this.#follow(rule, c, flight)
        const decided = this.#decideNow(rule, c, Date.now())
        if (decided !== null) return decided
      }
    } finally {
      c.waiting--
    }
  }

  /**
   * Follows a call, with a timer of this request's own, due STORE_WAIT_GRACE_MS after the call's
   * deadline: should the request that started it be gone, nothing else would end the wait.
   */
  async #follow(_rule: CompiledRateLimit, c: Counter, flight: Flight): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const own = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), Math.max(0, flight.deadline + STORE_WAIT_GRACE_MS - Date.now()))
    })
    const result = await Promise.race([flight.done, own])
    if (timer !== undefined) clearTimeout(timer)
    if (result !== 'late' || flight.settled || Date.now() < flight.deadline + STORE_WAIT_GRACE_MS) return
    // The call outlived its deadline and nobody ended it: give up on it (a late answer is used).
    flight.settled = true
    if (c.flight === flight) c.flight = null
    this.#fail(c, this.#timedOut)
  }

  /** Starts a store call from the calling request. */
  #start(rule: CompiledRateLimit, key: string, c: Counter): Flight {
    let finished: () => void = () => undefined
    const flight: Flight = {
      deadline: Date.now() + this.#timeoutMs,
      settled: false,
      done: new Promise<void>((resolve) => (finished = resolve)),
    }
    c.flight = flight
    this.#counters.touch(key)
    void this.#run(rule, c, flight).finally(finished)
    return flight
  }

  async #run(rule: CompiledRateLimit, c: Counter, flight: Flight): Promise<void> {
    let outcome: Outcome<LeaseGrant>
    let call: Promise<LeaseGrant> | null = null
    try {
      if (c.storeName === null) {
        // A digest, not the value: ids and addresses stay out of the store's keys.
        c.storeName = `${c.prefix}${(await sha256Hex(c.value)).slice(0, 32)}`
        c.value = ''
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
        want: Math.max(1, c.waiting),
        extra: headroom(c, now),
        adjust: c.adjust,
      }
      // Sent once: if the call fails after the store applied it, sending it again would count it twice.
      c.adjust = null
      this.#storeCalls++
      flight.deadline = now + this.#timeoutMs
      call = attempt(() => this.#store.lease(request))
      outcome = await this.#bounded(call)
    } catch (error) {
      outcome = storeUnavailable(error)
    }
    if (flight.settled) {
      // Given up on by a waiting request meanwhile: an answer that came anyway is a lease.
      if (outcome.kind === 'ok') this.#late(rule, c, outcome.value)
      return
    }
    flight.settled = true
    if (c.flight === flight) c.flight = null
    if (outcome.kind === 'unavailable') {
      this.#fail(c, outcome)
      if (outcome.timedOut === true && call !== null)
        call.then(
          (late) => this.#late(rule, c, late),
          () => undefined,
        )
    } else this.#apply(c, outcome.value)
  }

  /**
   * The store call, or its failure once `store_timeout` has passed since it started: the edge
   * where the store's thrown errors become an `Outcome`.
   */
  async #bounded(call: Promise<LeaseGrant>): Promise<Outcome<LeaseGrant>> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<Unavailable>((resolve) => {
      timer = setTimeout(() => resolve(this.#timedOut), this.#timeoutMs)
    })
    try {
      return await Promise.race([call.then((grant) => ok(grant)), deadline])
    } catch (error) {
      return storeUnavailable(error)
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }

  /** A lease: the waiting requests take its units as they resume; later ones too. */
  #apply(c: Counter, grant: LeaseGrant): void {
    const now = Date.now()
    c.failedUntil = 0
    c.failure = null
    c.units = grant.granted
    c.epoch = grant.epoch
    c.epochEnds = grant.epochEnds
    c.renewAt = now + LEASE_MAX_AGE_MS
    c.storeRemaining = grant.remaining
    c.resetAt = grant.resetAt
    // The store is out until retryAt: once these units are spent, refuse here until then.
    c.blockedUntil = grant.remaining === 0 ? grant.retryAt : 0
  }

  /** An answer to a call already decided as failed: use its units, or give them back. */
  #late(rule: CompiledRateLimit, c: Counter, late: LeaseGrant): void {
    if (c.units === 0 && c.flight === null && Date.now() < late.epochEnds) {
      c.units = late.granted
      c.epoch = late.epoch
      c.epochEnds = late.epochEnds
      c.renewAt = Date.now() + LEASE_MAX_AGE_MS
      c.storeRemaining = late.remaining
      c.resetAt = late.resetAt
    } else if (late.granted > 0) c.adjust = merge(rule.algorithm, c.adjust, { epoch: late.epoch, units: late.granted })
  }

  /** The waiting requests, and the next ones for STORE_FAILURE_BACKOFF_MS, decide by on_error. */
  #fail(c: Counter, failure: Unavailable): void {
    c.failedUntil = Date.now() + STORE_FAILURE_BACKOFF_MS
    c.failure = failure
  }

  /** What `on_error` decides while the store cannot. */
  #degraded(rule: CompiledRateLimit, c: Counter, now: number, failure: Unavailable): Taken {
    switch (rule.onError) {
      case 'allow':
        return admitted(rule.limit, 0, 0, failure)
      case 'deny':
        return refused(rule.limit, 0, now, failure)
      case 'local': {
        if (c.units > 0 && now < c.epochEnds) {
          c.units--
          return admitted(rule.limit, c.units, c.resetAt, failure)
        }
        const step = leaseStep(
          {
            algorithm: rule.algorithm,
            limit: rule.localLimit,
            windowMs: rule.windowMs,
            now,
            want: 1,
            extra: 0,
            adjust: null,
            divisor: LEASE_HEADROOM_DIVISOR,
          },
          c.local,
        )
        c.local = step.state
        const { grant } = step
        if (grant.granted === 0) return refused(rule.localLimit, grant.resetAt, grant.retryAt, failure)
        // The store has not counted it: charge it with the next call that succeeds.
        c.adjust = merge(rule.algorithm, c.adjust, { epoch: grant.epoch, units: -1 })
        return admitted(rule.localLimit, grant.remaining, grant.resetAt, failure)
      }
    }
  }
}

function admitted(limit: number, remaining: number, resetAt: number, failure: Unavailable | null): Taken {
  return { kind: 'ok', value: { limit, remaining, resetAt }, failure }
}

function refused(limit: number, resetAt: number, retryAt: number, failure: Unavailable | null): Taken {
  return { kind: 'refused', refusal: { limit, remaining: 0, resetAt, retryAt }, failure }
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
  if (algorithm === 'token_bucket' || a.epoch === b.epoch)
    return { epoch: Math.max(a.epoch, b.epoch), units: a.units + b.units }
  return a.epoch > b.epoch ? a : b
}
