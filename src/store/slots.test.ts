import { describe, expect, it } from 'vitest'
import { slotStep, type SlotState } from './slots.ts'

const base = { now: 1_000_000, limit: 2, leaseMs: 1_000, acquire: null, renew: [], release: [] }

describe('slotStep', () => {
  it('takes slots up to the limit, and a slot already held counts as taken', () => {
    let state: SlotState | null = null
    const answers = ['a', 'b', 'c', 'a'].map((acquire) => {
      const step = slotStep({ ...base, acquire }, state)
      state = step.state
      return step.answer
    })
    expect(answers).toEqual([
      { acquired: true, open: 1, lost: [] },
      { acquired: true, open: 2, lost: [] },
      { acquired: false, open: 2, lost: [] },
      { acquired: true, open: 2, lost: [] },
    ])
  })

  it('frees a slot whose lease ended without renewal, and extends one that was renewed', () => {
    const taken = slotStep({ ...base, acquire: 'a' }, null)
    const renewed = slotStep({ ...base, now: base.now + 900, renew: ['a'] }, taken.state)
    expect(renewed.state).toEqual({ a: base.now + 1_900 })
    expect(slotStep({ ...base, now: base.now + 1_899, acquire: 'b', limit: 1 }, renewed.state).answer.acquired).toBe(
      false,
    )
    // At its expiry the slot is gone (the Lua twin removes scores up to and including now).
    expect(slotStep({ ...base, now: base.now + 1_900, acquire: 'b', limit: 1 }, renewed.state).answer).toEqual({
      acquired: true,
      open: 1,
      lost: [],
    })
  })

  it('releases before it renews: a renewal that races its own release does not bring the slot back', () => {
    const taken = slotStep({ ...base, acquire: 'a' }, null)
    const released = slotStep({ ...base, release: ['a'] }, taken.state)
    expect(released).toEqual({ answer: { acquired: null, open: 0, lost: [] }, state: {}, expiresAt: null })
    expect(slotStep({ ...base, renew: ['a'] }, released.state).answer).toEqual({ acquired: null, open: 0, lost: ['a'] })
  })
})
