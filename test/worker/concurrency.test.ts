/**
 * Concurrency rules (issue 15) against both real stores: Upstash (the real @upstash/redis client
 * and the gateway's slot script, through the REST adapter, on a real redis-server) and Durable
 * Objects (real objects in workerd). Streams are real SSE answers of the Node test backend.
 * Each gateway gets its own pack id, so slots never carry over between tests.
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { Bindings } from '../../src/env.ts'
import { CONCURRENCY_SLOT_PARK_MS } from '../../src/constants.ts'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { countingNamespace } from './faulty-store.ts'
import { gateway, mintKey, type Gateway, type MintedKey } from './harness.ts'
import { backendSaw, logLines, openSse, openWs, sleep, type SseClient } from './stream-helpers.ts'

type StoreName = 'upstash' | 'durable_object'
const STORES: StoreName[] = ['upstash', 'durable_object']

const storeBindings = (store: StoreName): Omit<Bindings, 'INVOKER_SIGNING_KEYS'> =>
  store === 'upstash'
    ? { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN }
    : { GATEWAY_STORE: env.GATEWAY_STORE }

let sequence = 0
const uniquePack = (): string => `c${Date.now().toString(36)}${(sequence++).toString(36)}`

let alice: MintedKey
let bob: MintedKey

beforeAll(async () => {
  alice = await mintKey('alice', 'invoker: { meta: { org: acme } }')
  bob = await mintKey('bob', 'invoker: { meta: { org: acme } }')
})

const as = (key: MintedKey): RequestInit => ({ headers: { 'x-api-key': key.key } })

function limited(
  store: StoreName,
  rules: string,
  extra = '',
  upstream = '$BACKEND',
  gatewayExtra = '',
): { gw: Gateway; pack: string } {
  const pack = uniquePack()
  const gw = gateway(
    {
      [pack]: `pack: ${pack}\nupstream: ${upstream}\nmatch: { path_prefix: /${pack} }\nauth: [api_key]\n${extra}concurrency:\n${rules}`,
    },
    `issuer: https://gateway.test\nupstream_timeout: 500ms\n${gatewayExtra}api_keys:\n${alice.yaml}${bob.yaml}`,
    undefined,
    storeBindings(store),
  )
  return { gw, pack }
}

/** Retries every 50 ms until a stream is admitted; answers it and how long that took. */
async function admittedWithin(
  gw: Gateway,
  path: string,
  init: RequestInit,
  ms: number,
): Promise<{ stream: SseClient | null; elapsed: number }> {
  const started = Date.now()
  while (Date.now() - started < ms) {
    const stream = await openSse(gw, path, init)
    if (stream.response.status === 200) return { stream, elapsed: Date.now() - started }
    await stream.close()
    await sleep(50)
  }
  return { stream: null, elapsed: Date.now() - started }
}

describe.each(STORES)('concurrency rules on the %s store', (store) => {
  it('refuses the fourth concurrent stream of one invoker with 429, admits another invoker, and admits a new one within a second of one ending', async () => {
    const { gw, pack } = limited(store, '  - { id: streams, by: invoker, limit: 3 }\n')
    const open = await Promise.all([0, 1, 2].map(() => openSse(gw, `/${pack}/sse-ticks`, as(alice))))
    expect(open.map((s) => s.response.status)).toEqual([200, 200, 200])
    expect(open[0]?.response.headers.get('ratelimit-policy')).toBe('"streams";q=3;qu="concurrent-requests"')

    const fourth = await gw.fetch(`/${pack}/sse-ticks`, as(alice))
    expect(fourth.status).toBe(429)
    expect(fourth.headers.get('retry-after')).toBe('1')
    expect(fourth.headers.get('ratelimit-policy')).toBe('"streams";q=3;qu="concurrent-requests"')
    expect(fourth.headers.get('ratelimit')).toBe('"streams";r=0')
    expect(await fourth.json()).toMatchObject({ type: 'urn:invoker-gateway:problem:concurrency-limited', status: 429 })

    const other = await openSse(gw, `/${pack}/sse-ticks`, as(bob))
    expect(other.response.status).toBe(200)
    expect(await other.waitFor('data: 0')).toBe(true)
    await other.close()

    // One of alice's streams ends (she goes away); the gateway gives its slot back.
    const gone = open.shift() as SseClient
    const goneId = gone.response.headers.get('x-request-id')
    await gone.close()
    const next = await admittedWithin(gw, `/${pack}/sse-ticks`, as(alice), 3_000)
    expect(next.stream?.response.status).toBe(200)
    expect(next.elapsed).toBeLessThan(1_000)
    // The backend's end of the stream closed too.
    expect(await backendSaw(`closed-${goneId}`)).toBe(true)
    for (const stream of [...open, next.stream as SseClient]) await stream.close()
  })

  it('gives the slot back whatever way a request ends: a plain answer, a 502, a 504, a refusal by a later rule', async () => {
    const { gw, pack } = limited(store, '  - { id: one, by: invoker, limit: 1 }\n')
    for (let i = 0; i < 3; i++) {
      const response = await gw.fetch(`/${pack}/plain`, as(alice))
      expect(response.status).toBe(200)
      await response.json()
    }
    const down = limited(store, '  - { id: one, by: invoker, limit: 1 }\n', '', 'http://127.0.0.1:9')
    for (let i = 0; i < 3; i++) expect((await down.gw.fetch(`/${down.pack}/x`, as(alice))).status).toBe(502)
    for (let i = 0; i < 3; i++) expect((await gw.fetch(`/${pack}/slow?ms=2000`, as(alice))).status).toBe(504)

    // Rule "mine" (by invoker) admits alice, then rule "all" (one open request in the pack) refuses
    // her while bob holds it: her "mine" slot must come back, or she would stay refused by it.
    const two = limited(store, '  - { id: mine, by: invoker, limit: 1 }\n  - { id: all, by: pack, limit: 1 }\n')
    const bobs = await openSse(two.gw, `/${two.pack}/sse-ticks`, as(bob))
    expect(bobs.response.status).toBe(200)
    const refused = await two.gw.fetch(`/${two.pack}/x`, as(alice))
    expect(refused.status).toBe(429)
    expect(await refused.json()).toMatchObject({ detail: expect.stringContaining('"all"') })
    await bobs.close()
    const after = await admittedWithin(two.gw, `/${two.pack}/sse-ticks`, as(alice), 3_000)
    expect(after.stream?.response.status).toBe(200)
    await after.stream?.close()
  })

  it('gives the slot back when the client goes away in the middle of a plain streamed answer', async () => {
    const { gw, pack } = limited(store, '  - { id: one, by: invoker, limit: 1 }\n')
    // A plain body (not an event stream, so no stream guard): the relay still sees the cancel.
    const first = await openSse(gw, `/${pack}/drip`, as(alice))
    expect(first.response.status).toBe(200)
    expect(await first.waitFor('line')).toBe(true)
    expect((await gw.fetch(`/${pack}/x`, as(alice))).status).toBe(429)
    const firstId = first.response.headers.get('x-request-id')
    await first.close()
    expect(await backendSaw(`closed-${firstId}`)).toBe(true)
    const next = await admittedWithin(gw, `/${pack}/sse-ticks`, as(alice), 3_000)
    expect(next.stream?.response.status).toBe(200)
    await next.stream?.close()
  })

  it('names the closest rule of either kind in RateLimit, and lists both kinds in RateLimit-Policy', async () => {
    const { gw, pack } = limited(
      store,
      '  - { id: open, by: invoker, limit: 2 }\n',
      'rate_limits:\n  - { id: per-minute, by: invoker, limit: 100, window: 1m }\n',
    )
    const first = await openSse(gw, `/${pack}/sse-ticks`, as(alice))
    expect(first.response.headers.get('ratelimit-policy')).toBe(
      '"per-minute";q=100;w=60, "open";q=2;qu="concurrent-requests"',
    )
    // One of two slots left (a half) is closer than 99 of 100 requests.
    expect(first.response.headers.get('ratelimit')).toBe('"open";r=1')
    await first.close()
  })
})

describe('when the store cannot answer a concurrency rule', () => {
  const broken = { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9', UPSTASH_REDIS_REST_TOKEN: 'x' }
  const gatewayWith = (onError: string) => {
    const pack = uniquePack()
    return {
      pack,
      gw: gateway(
        {
          [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: [api_key]\nconcurrency:\n  - { id: open, by: invoker, limit: 4, on_error: ${onError} }\n`,
        },
        `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`,
        undefined,
        broken,
      ),
    }
  }

  it('on_error: deny answers 503; allow serves and logs store_error; local admits at most local_fraction of the limit per isolate', async () => {
    const deny = gatewayWith('deny')
    expect((await deny.gw.fetch(`/${deny.pack}/x`, as(alice))).status).toBe(503)

    const allow = gatewayWith('allow')
    const log = vi.spyOn(console, 'log')
    const served = await allow.gw.fetch(`/${allow.pack}/x`, as(alice))
    expect(served.status).toBe(200)
    await served.json()
    const line = logLines(log.mock.calls, 'request').at(-1)
    log.mockRestore()
    expect(line).toMatchObject({
      status: 200,
      store_error: { rule: 'open', on_error: 'allow' },
      degraded: [{ kind: 'store_error', source: 'open' }],
    })

    const local = gatewayWith('local')
    const streams = await Promise.all([0, 1, 2].map(() => openSse(local.gw, `/${local.pack}/sse-ticks`, as(alice))))
    // limit 4 × local_fraction 0.5: two at once in this isolate.
    expect(streams.map((s) => s.response.status).sort()).toEqual([200, 200, 429])
    for (const stream of streams) await stream.close()
    const again = await admittedWithin(local.gw, `/${local.pack}/sse-ticks`, as(alice), 3_000)
    expect(again.stream?.response.status).toBe(200)
    await again.stream?.close()
  })
})

describe('store calls (issue 15 budgets), counted at the Durable Object namespace', () => {
  it('a concurrency rule costs one call when a request starts and one when it ends, plus one per renewal period; rechecks cost none per event or message', async () => {
    const counting = countingNamespace(env.GATEWAY_STORE)
    const pack = uniquePack()
    const ADMIN = 'test-admin-token-that-is-long-enough'
    const gw = gateway(
      {
        [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: [api_key]\nconcurrency:\n  - { id: open, by: invoker, limit: 5 }\nstreams: { recheck: 1s }\n`,
      },
      `issuer: https://gateway.test\nconcurrency_lease: 3s\napi_keys:\n${alice.yaml}`,
      undefined,
      { GATEWAY_STORE: counting.namespace, GATEWAY_ADMIN_TOKEN: ADMIN },
    )
    const plain = await gw.fetch(`/${pack}/x`, as(alice))
    await plain.json()
    // The ended request's slot is parked for CONCURRENCY_SLOT_PARK_MS, then given back.
    await sleep(CONCURRENCY_SLOT_PARK_MS + 200)
    expect(counting.calls('cc:')).toBe(2)
    // Back to back, a request of the same key takes over the slot the last one parked: no call.
    for (let i = 0; i < 5; i++) await (await gw.fetch(`/${pack}/x`, as(alice))).json()
    await sleep(CONCURRENCY_SLOT_PARK_MS + 200)
    expect(counting.calls('cc:')).toBe(4)

    // A runtime key's stream: 50 events (one every 50 ms) and 25 WebSocket messages over 2.5 s.
    const { key, keyId } = generateApiKey()
    const minted = await gw.fetch('/.well-known/invoker-gateway/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        key_id: keyId,
        sha256: await sha256Hex(key),
        name: `budget-${keyId.toLowerCase()}`,
        packs: [pack],
      }),
    })
    expect(minted.status).toBe(201)
    const keyCallsBefore = counting.calls('keys:')
    const slotCallsBefore = counting.calls('cc:')
    const sse = await openSse(gw, `/${pack}/sse-ticks?ms=50`, { headers: { 'x-api-key': key } })
    const ws = await openWs(gw, `/${pack}/ws`, { 'x-api-key': key })
    for (let i = 0; i < 25; i++) {
      ws.send(`m${i}`)
      await sleep(100)
    }
    expect(sse.text().split('data: ').length).toBeGreaterThan(40)
    expect(ws.messages.length).toBeGreaterThan(20)
    await sse.close()
    ws.close()
    await ws.closed
    await sleep(CONCURRENCY_SLOT_PARK_MS + 200)
    // Two opens (one lookup each, or one shared), then at most one lookup per recheck period
    // for the key, shared by both streams: 2.5 s of rechecks every second.
    expect(counting.calls('keys:') - keyCallsBefore).toBeLessThanOrEqual(2 + 4)
    // Two requests: two acquisitions and two releases, and renewals every 1 s (a third of 3 s)
    // shared by both: at most three in 2.5 s.
    const slotCalls = counting.calls('cc:') - slotCallsBefore
    expect(slotCalls).toBeGreaterThanOrEqual(4)
    expect(slotCalls).toBeLessThanOrEqual(4 + 3)
  })
})
