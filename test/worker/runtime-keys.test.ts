/**
 * API keys minted at runtime through the admin endpoint, stored in each real store: usable on
 * the next request, refused on the next request after revocation, and the endpoint itself
 * closed to anyone without the admin token.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Bindings } from '../../src/env.ts'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { gateway, mintKey } from './harness.ts'

const ADMIN_TOKEN = 'test-admin-token-that-is-long-enough'
const PACKS = {
  deploys: 'pack: deploys\nupstream: $BACKEND\nmatch: { path_prefix: /deploys }\nauth: [api_key]\n',
  other: 'pack: other\nupstream: $BACKEND\nmatch: { path_prefix: /other }\nauth: [api_key]\n',
}

const stores: [string, Omit<Bindings, 'INVOKER_SIGNING_KEYS'>][] = [
  ['upstash', { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN }],
  ['durable_object', { GATEWAY_STORE: env.GATEWAY_STORE }],
]

const admin = (body: unknown, token = ADMIN_TOKEN): RequestInit => ({
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify(body),
})

describe.each(stores)('runtime API keys in the %s store', (_, bindings) => {
  it('mints a key that works at once, is scoped to its packs, and is refused right after revocation', async () => {
    const gw = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, {
      ...bindings,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const { key, keyId } = generateApiKey()
    const minted = await gw.fetch(
      '/.well-known/invoker-gateway/keys',
      admin({
        key_id: keyId,
        sha256: await sha256Hex(key),
        name: 'ci-deploy',
        packs: ['deploys'],
        invoker: { kind: 'service' },
      }),
    )
    expect(minted.status).toBe(201)
    const answer = (await minted.json()) as Record<string, unknown>
    expect(answer).toMatchObject({ key_id: keyId, name: 'ci-deploy' })
    expect(JSON.stringify(answer)).not.toContain(key)

    const ok = await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })
    expect(ok.status).toBe(200)
    const echo = (await ok.json()) as { headers: Record<string, string> }
    expect(echo.headers['x-invoker']).toBeDefined()
    expect((await gw.fetch('/other/x', { headers: { 'x-api-key': key } })).status).toBe(401)
    // Same key id, another secret: the stored hash decides.
    expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': generateApiKey(keyId).key } })).status).toBe(401)

    const again = await gw.fetch(
      '/.well-known/invoker-gateway/keys',
      admin({ key_id: keyId, sha256: await sha256Hex(key), name: 'ci-deploy', packs: ['deploys'] }),
    )
    expect(again.status).toBe(409)

    const revoked = await gw.fetch(`/.well-known/invoker-gateway/keys/${keyId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    expect(revoked.status).toBe(204)
    const refused = await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { detail: string }).detail).toBe('The API key has been revoked.')
  })

  it('keys list (issue 17, item 5): every runtime key with its facts, revoked ones marked, never a hash or a key', async () => {
    const gw = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, {
      ...bindings,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const minted = [generateApiKey(), generateApiKey()]
    const name = (i: number): string => `list-${i}-${minted[0]!.keyId.toLowerCase()}`
    for (const [i, { key, keyId }] of minted.entries()) {
      const body = {
        key_id: keyId,
        sha256: await sha256Hex(key),
        name: name(i),
        packs: ['deploys'],
        expires_at: 4_102_444_800,
        invoker: { label: `List ${i}` },
      }
      expect((await gw.fetch('/.well-known/invoker-gateway/keys', admin(body))).status).toBe(201)
    }
    expect(
      (
        await gw.fetch(`/.well-known/invoker-gateway/keys/${minted[1]!.keyId}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(204)

    expect(
      (await gw.fetch('/.well-known/invoker-gateway/keys', { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401)
    const listed = await gw.fetch('/.well-known/invoker-gateway/keys', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    expect(listed.status).toBe(200)
    expect(listed.headers.get('cache-control')).toBe('no-store')
    const text = await listed.text()
    for (const { key } of minted) {
      expect(text).not.toContain(key)
      expect(text).not.toContain(await sha256Hex(key))
    }
    const { keys } = JSON.parse(text) as { keys: Array<Record<string, unknown>> }
    const mine = keys
      .filter((k) => minted.some((m) => m.keyId === k['key_id']))
      .sort((a, b) => String(a['name']).localeCompare(String(b['name'])))
    expect(mine).toEqual([
      {
        key_id: minted[0]!.keyId,
        name: name(0),
        packs: ['deploys'],
        created_at: expect.any(Number),
        expires_at: 4_102_444_800,
        revoked: false,
        invoker: { id: `apikey:${name(0)}`, kind: 'apiKey', label: 'List 0' },
      },
      {
        key_id: minted[1]!.keyId,
        name: name(1),
        packs: ['deploys'],
        created_at: expect.any(Number),
        expires_at: 4_102_444_800,
        revoked: true,
        invoker: { id: `apikey:${name(1)}`, kind: 'apiKey', label: 'List 1' },
      },
    ])
  })

  it('honours the expiry of a runtime key', async () => {
    const gw = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, {
      ...bindings,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const { key, keyId } = generateApiKey()
    const past = Math.floor(Date.now() / 1000) - 10
    expect(
      (
        await gw.fetch(
          '/.well-known/invoker-gateway/keys',
          admin({ key_id: keyId, sha256: await sha256Hex(key), name: 'old', packs: ['deploys'], expires_at: past }),
        )
      ).status,
    ).toBe(201)
    expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
  })
})

describe('the admin endpoint', () => {
  const bindings = { GATEWAY_STORE: env.GATEWAY_STORE, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }

  it('does not exist without GATEWAY_ADMIN_TOKEN', async () => {
    const gw = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, { GATEWAY_STORE: env.GATEWAY_STORE })
    const { key, keyId } = generateApiKey()
    expect(
      (
        await gw.fetch(
          '/.well-known/invoker-gateway/keys',
          admin({ key_id: keyId, sha256: await sha256Hex(key), name: 'x', packs: ['deploys'] }),
        )
      ).status,
    ).toBe(404)
  })

  it('stays off (503, not-configured) while its token is shorter than 32 characters, even to that token', async () => {
    const short = 'a'.repeat(31)
    const gw = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, { ...bindings, GATEWAY_ADMIN_TOKEN: short })
    const { key, keyId } = generateApiKey()
    const body = { key_id: keyId, sha256: await sha256Hex(key), name: 'x', packs: ['deploys'] }
    const minted = await gw.fetch('/.well-known/invoker-gateway/keys', admin(body, short))
    expect(minted.status).toBe(503)
    expect(((await minted.json()) as { type: string }).type).toContain('not-configured')
    const listed = await gw.fetch('/.well-known/invoker-gateway/keys', {
      headers: { authorization: `Bearer ${short}` },
    })
    expect(listed.status).toBe(503)
    const long = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, {
      ...bindings,
      GATEWAY_ADMIN_TOKEN: 'a'.repeat(32),
    })
    expect((await long.fetch('/.well-known/invoker-gateway/keys', admin(body, 'a'.repeat(32)))).status).toBe(201)
  })

  it('refuses a wrong or missing admin token', async () => {
    const gw = gateway(PACKS, 'issuer: https://gateway.test\n', undefined, bindings)
    const { key, keyId } = generateApiKey()
    const body = { key_id: keyId, sha256: await sha256Hex(key), name: 'x', packs: ['deploys'] }
    expect((await gw.fetch('/.well-known/invoker-gateway/keys', admin(body, 'wrong'))).status).toBe(401)
    expect(
      (await gw.fetch('/.well-known/invoker-gateway/keys', { method: 'POST', body: JSON.stringify(body) })).status,
    ).toBe(401)
    expect((await gw.fetch(`/.well-known/invoker-gateway/keys/${keyId}`, { method: 'DELETE' })).status).toBe(401)
  })

  it('answers bad bodies with 400 and never stores them', async () => {
    const policyKey = await mintKey('fixed')
    const gw = gateway(PACKS, `issuer: https://gateway.test\napi_keys:\n${policyKey.yaml}`, undefined, bindings)
    const { key, keyId } = generateApiKey()
    const good = { key_id: keyId, sha256: await sha256Hex(key), name: 'x', packs: ['deploys'] }
    const cases: [unknown, number][] = [
      ['not an object', 400],
      [{ ...good, packs: [] }, 400],
      [{ ...good, packs: ['nope'] }, 400],
      [{ ...good, sha256: 'abc' }, 400],
      [{ ...good, key_id: 'short' }, 400],
      [{ ...good, extra: 1 }, 400],
      [{ ...good, invoker: { meta: 'x' } }, 400],
      [{ ...good, key_id: policyKey.keyId }, 400],
      [{ ...good, name: 'fixed' }, 400],
    ]
    for (const [body, status] of cases)
      expect((await gw.fetch('/.well-known/invoker-gateway/keys', admin(body))).status, JSON.stringify(body)).toBe(
        status,
      )
    const broken = await gw.fetch('/.well-known/invoker-gateway/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: '{',
    })
    expect(broken.status).toBe(400)
    expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(401)
  })

  it('refuses to revoke a policy key at runtime (that is a policy change)', async () => {
    const policyKey = await mintKey('fixed')
    const gw = gateway(PACKS, `issuer: https://gateway.test\napi_keys:\n${policyKey.yaml}`, undefined, bindings)
    expect(
      (
        await gw.fetch(`/.well-known/invoker-gateway/keys/${policyKey.keyId}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(409)
    expect(
      (
        await gw.fetch('/.well-known/invoker-gateway/keys/Zz9Zz9Zz', {
          method: 'DELETE',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(404)
  })

  it('answers 503 when the store cannot say whether a runtime key exists', async () => {
    const gw = gateway(PACKS, 'issuer: https://gateway.test\nstore_timeout: 200ms\n', undefined, {
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
      UPSTASH_REDIS_REST_TOKEN: 't',
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    })
    const { key } = generateApiKey()
    expect((await gw.fetch('/deploys/x', { headers: { 'x-api-key': key } })).status).toBe(503)
  })
})
