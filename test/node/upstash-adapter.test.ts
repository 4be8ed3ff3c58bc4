/**
 * The test suite's Upstash REST adapter is only worth its tests if it speaks the protocol the
 * way Upstash does: checked here with the real @upstash/redis client (base64 responses, auto
 * pipelining, multi-exec, EVALSHA → NOSCRIPT → EVAL, errors) on a real redis-server.
 */
import { Redis } from '@upstash/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstashRestAdapter, type UpstashRestAdapter } from '../support/upstash-rest.ts'

let adapter: UpstashRestAdapter
let redis: Redis

beforeAll(async () => {
  adapter = await startUpstashRestAdapter()
  redis = new Redis({ url: adapter.url, token: adapter.token, retry: false, enableTelemetry: false })
})
afterAll(() => adapter.close())

describe('the Upstash REST adapter', () => {
  it('round-trips strings, unicode, JSON and numbers through base64', async () => {
    await redis.set('s', 'héllo ✓')
    await redis.set('j', { a: 1, b: ['x'] })
    await redis.set('n', 42)
    expect(await redis.get('s')).toBe('héllo ✓')
    expect(await redis.get('j')).toEqual({ a: 1, b: ['x'] })
    expect(await redis.get('n')).toBe(42)
    expect(await redis.get('missing')).toBeNull()
  })

  it('answers hashes as flat arrays, as Upstash does', async () => {
    await redis.hset('h', { a: '1', b: 'two' })
    expect(await redis.hgetall('h')).toEqual({ a: 1, b: 'two' })
  })

  it('runs pipelines and transactions, with per-command errors', async () => {
    const pipe = redis.pipeline()
    pipe.set('p', 'v')
    pipe.get('p')
    pipe.hset('p2', { a: 1 })
    pipe.get('p2')
    const results = await pipe.exec({ keepErrors: true })
    expect(results[1]).toEqual({ result: 'v', error: undefined })
    expect(results[3]?.error).toMatch(/WRONGTYPE/)
    const tx = redis.multi()
    tx.incr('counter')
    tx.incr('counter')
    expect(await tx.exec()).toEqual([1, 2])
  })

  it('falls back from EVALSHA to EVAL on NOSCRIPT, also for scripts with Upstash-only flags', async () => {
    const script = redis.createScript<number>(
      '#!lua flags=allow-key-locking\nreturn redis.call("INCRBY", KEYS[1], ARGV[1])',
    )
    expect(await script.exec(['scripted'], ['5'])).toBe(5)
    expect(await script.exec(['scripted'], ['5'])).toBe(10)
  })

  it('refuses a wrong token with 401', async () => {
    const intruder = new Redis({ url: adapter.url, token: 'wrong', retry: false, enableTelemetry: false })
    await expect(intruder.get('s')).rejects.toThrow(/Unauthorized/)
  })

  it('fails fast while redis is down and serves again after it is back', async () => {
    await adapter.redis.stop()
    await expect(redis.get('s')).rejects.toThrow()
    await adapter.redis.start()
    await redis.set('again', 'yes')
    expect(await redis.get('again')).toBe('yes')
  })
})
