import { describe, expect, it } from 'vitest'
import { AnswerCache, jsonBytes } from './answer-cache.ts'

const LIMITS = { maxEntries: 100, maxBytes: 20_000, maxEntryBytes: 4_000 }
const value = (bytes: number) => ({ pad: 'x'.repeat(Math.floor(bytes / 2)) })

describe('answer cache', () => {
  it('item 12: answer caches are bounded by bytes as well as by entries', () => {
    const cache = new AnswerCache<{ pad: string }>(jsonBytes, LIMITS)
    // 100 answers of ~3 KB each: far more bytes than the bound, though within the entry bound.
    for (let i = 0; i < 100; i++) cache.set(`k${i}`, value(3_000), 60_000)
    expect(cache.usage.bytes).toBeLessThanOrEqual(LIMITS.maxBytes)
    expect(cache.usage.entries).toBeLessThan(10)
    // The newest survive, the oldest went first.
    expect(cache.get('k99')).toBeDefined()
    expect(cache.get('k0')).toBeUndefined()
    // Many small answers: bounded by the entry count.
    for (let i = 0; i < 500; i++) cache.set(`s${i}`, value(10), 60_000)
    expect(cache.usage.entries).toBeLessThanOrEqual(LIMITS.maxEntries)
    // One answer above the per-entry bound is not kept at all.
    cache.set('huge', value(10_000), 60_000)
    expect(cache.get('huge')).toBeUndefined()
  })

  it('keeps the recently used entry when it must drop one', () => {
    const cache = new AnswerCache<{ pad: string }>(jsonBytes, {
      maxEntries: 2,
      maxBytes: 1_000_000,
      maxEntryBytes: 1_000_000,
    })
    cache.set('a', value(10), 60_000)
    cache.set('b', value(10), 60_000)
    expect(cache.get('a')).toBeDefined()
    cache.set('c', value(10), 60_000)
    expect(cache.get('a')).toBeDefined()
    expect(cache.get('b')).toBeUndefined()
  })

  it('forgets an entry after its TTL, and keeps nothing with a TTL of zero or less', async () => {
    const cache = new AnswerCache<{ pad: string }>(jsonBytes, LIMITS)
    cache.set('short', value(10), 30)
    cache.set('none', value(10), 0)
    cache.set('negative', value(10), -5)
    expect(cache.get('short')).toBeDefined()
    expect(cache.get('none')).toBeUndefined()
    expect(cache.get('negative')).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(cache.get('short')).toBeUndefined()
  })
})
