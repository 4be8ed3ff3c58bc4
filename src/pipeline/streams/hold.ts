/**
 * The concurrency slots one request holds (issue 15), from the moment the rules admitted it to
 * the moment it ends, whichever way it ends: an answer without a body, the end of a streamed
 * body, a client that went away, a backend that failed, a timeout, a refusal by a later rule.
 * While it is open, its own timer renews its slots every third of a lease (one store call per
 * counter and period in this isolate, whichever request of the key comes first); `release` is
 * idempotent and gives every slot back.
 *
 * @module
 */
import type { CompiledConcurrency } from '../../policy/types.ts'
import type { SlotHeld, SlotTable } from './slot-table.ts'

export interface HeldSlot {
  rule: CompiledConcurrency
  counter: string
  held: SlotHeld
  /** The slot's id in the store (the request's own, or a parked one it took over). */
  slotId: string
}

export class Hold {
  readonly #table: SlotTable
  readonly #slots: HeldSlot[] = []
  #timer: ReturnType<typeof setTimeout> | undefined
  #released: Promise<void> | null = null

  constructor(table: SlotTable) {
    this.#table = table
  }

  /** Every slot counted (including those only attempted: a timed-out acquire may have landed). */
  add(slot: HeldSlot): void {
    this.#slots.push(slot)
  }

  get released(): boolean {
    return this.#released !== null
  }

  /** Renews the store-held slots every renewal period until released. */
  startRenewals(): void {
    if (this.#released !== null || !this.#slots.some((s) => s.held === 'store')) return
    this.#timer = setTimeout(() => void this.#renew(), this.#table.renewEveryMs)
  }

  async #renew(): Promise<void> {
    this.#timer = undefined
    await Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.held !== 'store') return
        // A slot the store no longer had is not taken again: the request goes on uncounted.
        if ((await this.#table.renew(slot.rule, slot.counter, slot.slotId)) === 'lost') slot.held = 'none'
      }),
    )
    if (this.#released === null) this.startRenewals()
  }

  /** Gives every slot back (once); resolves when the store calls are over. Never rejects. */
  release(): Promise<void> {
    if (this.#released !== null) return this.#released
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#released = Promise.all(
      this.#slots.map((slot) => this.#table.release(slot.rule, slot.counter, slot.slotId, slot.held)),
    ).then(() => undefined)
    return this.#released
  }
}
