/**
 * What a runtime API key lookup costs, on both real stores: nothing when runtime keys are off,
 * one store read per key id and isolate for a few seconds when they are on, never an object per
 * forged key id in the Durable Object store; and revocation reaching another isolate within the
 * documented bound (issue 12 item 8, issue 13 item 5).
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { RUNTIME_KEY_CACHE_TTL_MS, RUNTIME_KEY_SHARDS } from '../../src/constants.ts'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { DurableObjectStore } from '../../src/store/durable-object.ts'
import { MintedKeyLookups } from '../../src/store/minted-keys.ts'
import { countingNamespace } from './faulty-store.ts'
import { gateway } from './harness.ts'

const ADMIN_TOKEN = 'test-admin-token-that-is-long-enough'
const PACKS = { deploys: 'pack: deploys\nupstream: $BACKEND\nmatch: { path_prefix: /deploys }\nauth: [api_key]\n' }
const GATEWAY = 'issuer: https://gateway.test\n'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const control = (action: string): Promise<Response> =>
  fetch(`${env.TEST_UPSTASH_URL}/__control/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.TEST_UPSTASH_TOKEN}` },
  })

/** Well-formed keys (valid checksum) whose key ids share a random 4-character prefix. */
function forgedKeys(n: number): { prefix: string; keys: string[] } {
  const prefix = generateApiKey().keyId.slice(0, 4)
  return {
    prefix,
    keys: Array.from({ length: n }, () => generateApiKey(prefix + generateApiKey().keyId.slice(0, 4)).key),
  }
}

async function upstashReads(
  prefix: string,
  run: (bindings: Record<string, unknown>) => Promise<void>,
): Promise<number> {
  const match = `igw:key:${prefix}`
  await control(`watch?match=${encodeURIComponent(match)}`)
  await run({ UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN })
  return (
    (await (await control(`stats?match=${encodeURIComponent(match)}`)).json()) as { result: { commands: number } }
  ).result.commands
}

describe('issue 12 item 8: forged API keys', () => {
  it('cost no store read when runtime keys are off (no GATEWAY_ADMIN_TOKEN), on either store', async () => {
    const { prefix, keys } = forgedKeys(30)
    const reads = await upstashReads(prefix, async (bindings) => {
      const gw = gateway(PACKS, GATEWAY, undefined, bindings)
      for (const key of keys) expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
    })
    expect(reads).toBe(0)
    const counting = countingNamespace(env.GATEWAY_STORE)
    const gw = gateway(PACKS, GATEWAY, undefined, { GATEWAY_STORE: counting.namespace })
    for (const key of keys) expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
    expect(counting.calls('')).toBe(0)
  })

  it('with runtime keys on, cost one store read per key id and isolate while the miss is remembered', async () => {
    const { prefix, keys } = forgedKeys(1)
    const key = keys[0] as string
    const reads = await upstashReads(prefix, async (bindings) => {
      const gw = gateway(PACKS, GATEWAY, undefined, { ...bindings, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN })
      const results = await Promise.all(
        Array.from({ length: 20 }, () => gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })),
      )
      for (const response of results) expect(response.status).toBe(401)
      for (let i = 0; i < 20; i++)
        expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
    })
    expect(reads).toBe(1)
  })

  it('with runtime keys on, address at most RUNTIME_KEY_SHARDS Durable Objects however many key ids are forged', async () => {
    const counting = countingNamespace(env.GATEWAY_STORE)
    const gw = gateway(PACKS, GATEWAY, undefined, {
      GATEWAY_STORE: counting.namespace,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const { keys } = forgedKeys(100)
    for (const key of keys) expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
    expect(counting.calls('')).toBe(100)
    const objects = counting.names('')
    expect(objects.size).toBeLessThanOrEqual(RUNTIME_KEY_SHARDS)
    for (const name of objects) expect(name).toMatch(/^keys:\d+$/)
  })
})

describe('runtime key lookups remembered per isolate', () => {
  it('revocation reaches another isolate within RUNTIME_KEY_CACHE_TTL_MS, and this one at once', async () => {
    // Two gateways on two counting namespaces: two stores, two lookup tables, as two isolates have.
    const a = gateway(PACKS, GATEWAY, undefined, {
      GATEWAY_STORE: countingNamespace(env.GATEWAY_STORE).namespace,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const b = gateway(PACKS, GATEWAY, undefined, {
      GATEWAY_STORE: countingNamespace(env.GATEWAY_STORE).namespace,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const { key, keyId } = generateApiKey()
    const mint = await a.fetch('/.well-known/invoker-gateway/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key_id: keyId, sha256: await sha256Hex(key), name: 'rotating', packs: ['deploys'] }),
    })
    expect(mint.status).toBe(201)
    expect((await a.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(200)
    expect((await b.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(200)
    const revokedAt = Date.now()
    expect(
      (
        await a.fetch(`/.well-known/invoker-gateway/keys/${keyId}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(204)
    expect((await a.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
    // b still trusts its answer until it is RUNTIME_KEY_CACHE_TTL_MS old, and no longer.
    let refusedAfter = -1
    for (;;) {
      const status = (await b.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status
      if (status === 401) {
        refusedAfter = Date.now() - revokedAt
        break
      }
      expect(status).toBe(200)
      expect(Date.now() - revokedAt).toBeLessThan(RUNTIME_KEY_CACHE_TTL_MS + 500)
      await sleep(250)
    }
    expect(refusedAfter).toBeLessThanOrEqual(RUNTIME_KEY_CACHE_TTL_MS + 500)
  }, 15_000)

  it('issue 12 item 12: the lookup table is bounded by entries', async () => {
    const store = new DurableObjectStore(env.GATEWAY_STORE)
    const lookups = new MintedKeyLookups(store, 25)
    for (let i = 0; i < 100; i++) {
      expect(await lookups.lookup(generateApiKey().keyId, 5_000)).toBeNull()
      expect(lookups.size).toBeLessThanOrEqual(25)
    }
  })
})
