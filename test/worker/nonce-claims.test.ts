/**
 * Nonces are claimed exactly once however many claims arrive at once (issue 13 item 5): on the
 * Durable Object store, claims that arrive while one to their shard is in flight go together in
 * the next call; on Upstash, the client pipelines concurrent SET NX commands. Never a lease.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { DurableObjectStore } from '../../src/store/durable-object.ts'
import type { GatewayStore } from '../../src/store/types.ts'
import { UpstashStore } from '../../src/store/upstash.ts'
import { countingNamespace } from './faulty-store.ts'

let sequence = 0
const unique = (): string => `nonce-${Date.now().toString(36)}-${(sequence++).toString(36)}`

describe.each<[string, () => { store: GatewayStore; calls: () => number | null }]>([
  [
    'durable_object',
    () => {
      const counting = countingNamespace(env.GATEWAY_STORE)
      return { store: new DurableObjectStore(counting.namespace), calls: () => counting.calls('nonce:') }
    },
  ],
  ['upstash', () => ({ store: new UpstashStore(env.TEST_UPSTASH_URL, env.TEST_UPSTASH_TOKEN), calls: () => null })],
])('nonce claims on the %s store', (_, make) => {
  it('50 concurrent claims of one nonce: exactly one succeeds', async () => {
    const { store, calls } = make()
    const nonce = unique()
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claimOnce(nonce, 60_000)))
    expect(results.filter(Boolean)).toHaveLength(1)
    // One call for the first claim, one for the 49 that queued behind it.
    const made = calls()
    if (made !== null) expect(made).toBe(2)
  })

  it('distinct nonces claimed at once each succeed once, and a replay of any fails', async () => {
    const { store } = make()
    const nonces = Array.from({ length: 40 }, unique)
    expect(await Promise.all(nonces.map((n) => store.claimOnce(n, 60_000)))).toEqual(nonces.map(() => true))
    expect(await Promise.all(nonces.map((n) => store.claimOnce(n, 60_000)))).toEqual(nonces.map(() => false))
  })
})
