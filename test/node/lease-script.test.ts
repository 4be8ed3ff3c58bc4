/**
 * The Upstash store's lease script against a real redis-server: its pinned SHA-1 is the one Redis
 * computes (so EVALSHA finds it), and it gives exactly the answers of the TypeScript algorithm the
 * Durable Object store runs (store/algorithms.ts), on the same inputs, across hundreds of random
 * sequences of leases, returns, charges and clock steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LEASE_HEADROOM_DIVISOR, STORE_TTL_SLACK_MS } from '../../src/constants.ts'
import type { RateLimitAlgorithm } from '../../src/policy/types.ts'
import { leaseStep, type Adjustment, type CounterState } from '../../src/store/algorithms.ts'
import { ALGORITHM_CODES, LEASE_SCRIPT, LEASE_SCRIPT_SHA1 } from '../../src/store/lease-script.ts'
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

describe('the lease script', () => {
  it('is pinned by the SHA-1 Redis gives it', async () => {
    expect(await one(['SCRIPT', 'LOAD', LEASE_SCRIPT])).toBe(LEASE_SCRIPT_SHA1)
  })

  it.each<RateLimitAlgorithm>(['fixed_window', 'sliding_window', 'token_bucket'])(
    'answers as the TypeScript algorithm does: %s',
    async (algorithm) => {
      for (let seed = 1; seed <= 60; seed++) {
        const next = seededRandom(seed * 7919 + algorithm.length)
        const limit = [1, 3, 10, 50, 500][Math.floor(next() * 5)] as number
        const windowMs = [1000, 7000, 60_000][Math.floor(next() * 3)] as number
        const key = `t:${algorithm}:${seed}`
        let state: CounterState | null = null
        let now = 1_795_370_000_000 + Math.floor(next() * 100_000)
        let last: { epoch: number; granted: number } | null = null
        for (let step = 0; step < 25; step++) {
          now += Math.floor(next() * (next() < 0.2 ? windowMs * 1.5 : windowMs / 8))
          const want = 1 + Math.floor(next() * (next() < 0.3 ? limit : 4))
          const extra = next() < 0.5 ? 0 : Math.floor(next() * 130)
          let adjust: Adjustment | null = null
          if (last !== null && next() < 0.3)
            adjust = {
              epoch: last.epoch,
              units: next() < 0.5 ? Math.floor(next() * (last.granted + 1)) : -1 - Math.floor(next() * 3),
            }
          const expected = leaseStep(
            { algorithm, limit, windowMs, now, want, extra, adjust, divisor: LEASE_HEADROOM_DIVISOR },
            state,
          )
          const reply = await one([
            'EVALSHA',
            LEASE_SCRIPT_SHA1,
            '1',
            key,
            String(ALGORITHM_CODES[algorithm]),
            String(limit),
            String(windowMs),
            String(now),
            String(want),
            String(extra),
            String(adjust?.epoch ?? -1),
            String(adjust?.units ?? 0),
            String(LEASE_HEADROOM_DIVISOR),
            String(STORE_TTL_SLACK_MS),
          ])
          const g = expected.grant
          const context = JSON.stringify({ seed, step, limit, windowMs, now, want, extra, adjust, state })
          expect(reply, context).toEqual([g.granted, g.remaining, g.resetAt, g.retryAt, g.epoch, g.epochEnds])
          state = expected.state
          last = { epoch: g.epoch, granted: g.granted }
        }
      }
    },
  )

  it('keeps a counter only as long as it matters', async () => {
    const now = Date.now()
    await one([
      'EVALSHA',
      LEASE_SCRIPT_SHA1,
      '1',
      'ttl:fixed',
      '1',
      '10',
      '60000',
      String(now),
      '1',
      '0',
      '-1',
      '0',
      '2',
      String(STORE_TTL_SLACK_MS),
    ])
    const ttl = (await one(['PTTL', 'ttl:fixed'])) as number
    const windowEnd = (Math.floor(now / 60_000) + 1) * 60_000
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(windowEnd - now + STORE_TTL_SLACK_MS)
  })
})
