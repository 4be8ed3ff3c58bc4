/**
 * The Upstash store's slot script against a real redis-server: its pinned SHA-1 is the one Redis
 * computes (so EVALSHA finds it), and it gives exactly the answers, and keeps exactly the slots,
 * of the TypeScript step the Durable Object store runs (store/slots.ts), on the same inputs,
 * across hundreds of random sequences of acquisitions, renewals, releases and clock steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STORE_TTL_SLACK_MS } from '../../src/constants.ts'
import { SLOT_SCRIPT, SLOT_SCRIPT_SHA1 } from '../../src/store/slot-script.ts'
import { slotStep, type SlotState } from '../../src/store/slots.ts'
import { RedisServer, RespClient, type RespValue } from '../support/redis.ts'
import { seededRandom } from '../support/seeded-random.ts'

let redis: RedisServer
let client: RespClient

beforeAll(async () => {
  redis = await RedisServer.start()
  client = new RespClient(redis.port)
})
afterAll(async () => {
  client.close()
  await redis.stop()
})

const one = (command: string[]): Promise<RespValue> => client.one(command)

function call(
  key: string,
  now: number,
  limit: number,
  leaseMs: number,
  acquire: string | null,
  renew: string[],
  release: string[],
): Promise<RespValue> {
  return one([
    'EVALSHA',
    SLOT_SCRIPT_SHA1,
    '1',
    key,
    String(now),
    String(limit),
    String(leaseMs),
    String(STORE_TTL_SLACK_MS),
    acquire ?? '',
    String(renew.length),
    ...renew,
    ...release,
  ])
}

describe('the slot script', () => {
  it('is pinned by the SHA-1 Redis gives it', async () => {
    expect(await one(['SCRIPT', 'LOAD', SLOT_SCRIPT])).toBe(SLOT_SCRIPT_SHA1)
  })

  it('answers and keeps slots as the TypeScript step does', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id) => `${id}-${crypto.randomUUID()}`)
    for (let seed = 1; seed <= 80; seed++) {
      const next = seededRandom(seed * 104_729)
      const pick = (): string => ids[Math.floor(next() * ids.length)] as string
      const limit = 1 + Math.floor(next() * 5)
      const leaseMs = [1000, 3000, 30_000][Math.floor(next() * 3)] as number
      const key = `slots:${seed}`
      let state: SlotState | null = null
      let now = 1_795_370_000_000 + Math.floor(next() * 100_000)
      for (let step = 0; step < 30; step++) {
        now += Math.floor(next() * (next() < 0.2 ? leaseMs * 1.5 : leaseMs / 4))
        const acquire = next() < 0.7 ? pick() : null
        const renew = Array.from({ length: Math.floor(next() * 3) }, pick)
        const release = Array.from({ length: Math.floor(next() * 2) }, pick)
        const expected = slotStep({ now, limit, leaseMs, acquire, renew, release }, state)
        const reply = await call(key, now, limit, leaseMs, acquire, renew, release)
        const context = JSON.stringify({ seed, step, limit, leaseMs, now, acquire, renew, release, state })
        const { acquired, open, lost } = expected.answer
        expect(reply, context).toEqual([acquired === null ? -1 : acquired ? 1 : 0, open, ...lost])
        const kept = (await one(['ZRANGE', key, '0', '-1', 'WITHSCORES'])) as string[]
        const stored: Record<string, number> = {}
        for (let i = 0; i < kept.length; i += 2) stored[kept[i] as string] = Number(kept[i + 1])
        expect(stored, context).toEqual(expected.state)
        state = expected.state
      }
    }
  })

  it('never holds more slots than the limit, and forgets a key whose slots are all gone', async () => {
    const now = Date.now()
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await call('slots:limit', now, 3, 30_000, `r${i}`, [], []))
    expect(answers.map((a) => (a as number[])[0])).toEqual([1, 1, 1, 0, 0])
    expect(await one(['ZCARD', 'slots:limit'])).toBe(3)
    const ttl = (await one(['PTTL', 'slots:limit'])) as number
    expect(ttl).toBeGreaterThan(29_000)
    expect(ttl).toBeLessThanOrEqual(30_000 + STORE_TTL_SLACK_MS)
    expect(await call('slots:limit', now, 3, 30_000, null, [], ['r0', 'r1', 'r2'])).toEqual([-1, 0])
    expect(await one(['EXISTS', 'slots:limit'])).toBe(0)
    // A slot nobody renewed expires within one lease.
    await call('slots:expiry', now, 1, 1_000, 'dead', [], [])
    expect(await call('slots:expiry', now + 999, 1, 1_000, 'other', [], [])).toEqual([0, 1])
    expect(await call('slots:expiry', now + 1_000, 1, 1_000, 'other', [], [])).toEqual([1, 1])
  })
})
