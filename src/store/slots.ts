/**
 * Concurrency slots (issue 15) as one pure function of (state, now): the open requests of one
 * key, each a slot with an expiry. The Durable Object store runs it on its stored state, and
 * `slot-script.ts` is the same function in Lua for Redis (a sorted set scored by expiry); a test
 * runs both on the same inputs against a real redis-server, so the stores answer alike.
 *
 * One step, applied in this order:
 *
 * 1. slots whose expiry is at or before `now` are dropped (their isolate stopped renewing them:
 *    it died, or lost the store for a whole lease);
 * 2. `release` slots are dropped (their requests ended);
 * 3. `renew` slots still present get `now + leaseMs`; a renewed slot that is gone is reported
 *    `lost` and not taken again (a renewal racing its own release must not bring it back);
 * 4. `acquire`, when given, takes a slot if fewer than `limit` are open (a slot already held by
 *    that id is renewed and counts as taken).
 *
 * @module
 */

/** Slot id → Unix ms at which it expires unless renewed. */
export type SlotState = Record<string, number>

export interface SlotInput {
  now: number
  limit: number
  leaseMs: number
  /** A slot to take for a request that starts, or `null`. */
  acquire: string | null
  renew: readonly string[]
  release: readonly string[]
}

export interface SlotAnswer {
  /** Whether `acquire` got its slot; `null` when nothing was to be acquired. */
  acquired: boolean | null
  /** Slots open after the step. */
  open: number
  /** Renewed slots that had expired or been released before the renewal. */
  lost: string[]
}

export interface SlotStep {
  answer: SlotAnswer
  state: SlotState
  /** Unix ms after which the whole state has expired and may be deleted; `null` when empty. */
  expiresAt: number | null
}

export function slotStep(input: SlotInput, previous: SlotState | null): SlotStep {
  const { now, limit, leaseMs, acquire, renew, release } = input
  const state: SlotState = {}
  let open = 0
  for (const [id, expiresAt] of Object.entries(previous ?? {})) {
    if (expiresAt > now) {
      state[id] = expiresAt
      open++
    }
  }
  for (const id of release) {
    if (id in state) {
      delete state[id]
      open--
    }
  }
  const lost: string[] = []
  for (const id of renew) {
    if (id in state) state[id] = now + leaseMs
    else lost.push(id)
  }
  let acquired: boolean | null = null
  if (acquire !== null) {
    if (acquire in state) acquired = true
    else if (open < limit) {
      acquired = true
      open++
    } else acquired = false
    if (acquired) state[acquire] = now + leaseMs
  }
  let expiresAt: number | null = null
  for (const at of Object.values(state)) if (expiresAt === null || at > expiresAt) expiresAt = at
  return { answer: { acquired, open, lost }, state, expiresAt }
}
