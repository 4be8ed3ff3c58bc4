/**
 * The test suite's own Redis client (test/support/redis.ts), which the Upstash REST adapter uses
 * for every store call: replies must reach their callers even when a burst's first calls arrive
 * before its connection is open (each used to open its own socket, and replies went to the wrong
 * callers: a concurrency test then saw other requests' "slot taken" answers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisServer, RespClient } from '../support/redis.ts'

let redis: RedisServer

beforeAll(async () => {
  redis = await RedisServer.start()
})

afterAll(async () => {
  await redis?.stop()
})

describe('RespClient', () => {
  it('answers each of 200 concurrent first calls with its own reply, on one connection', async () => {
    const client = new RespClient(redis.port)
    try {
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => client.send([['ECHO', `call-${i}`]])))
      expect(replies.map(([reply]) => reply)).toEqual(Array.from({ length: 200 }, (_, i) => `call-${i}`))
      const [clients] = await client.send([['CLIENT', 'LIST']])
      expect(String(clients).trim().split('\n')).toHaveLength(1)
    } finally {
      client.close()
    }
  })
})
