/**
 * One caller, one address key (red team, h19): rate limits `by: ip`, concurrency rules `by: ip`
 * and anonymous ids count an IPv4 address whole and an IPv6 address by its /64, whatever the
 * spelling of CF-Connecting-IP; the backend's X-Forwarded-For carries the whole address in its
 * canonical spelling; a value that is not an address is no address. Real workerd, the real Node
 * backend, the Durable Object store; `explain` (the CLI and policy fixtures) names the same key.
 */
import { env } from 'cloudflare:test'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { explain } from '../../src/policy/explain.ts'
import { compileYaml } from '../support/policy.ts'
import { gateway, mintKey, verifiedInvoker, type Echo, type Gateway, type MintedKey } from './harness.ts'
import { openSse } from './stream-helpers.ts'

/** The red team's spellings of 2001:db8:1:2::1, and other members of its /64. */
const SPELLINGS = ['2001:DB8:1:2::1', '2001:db8:1:2:0:0:0:1', '[2001:db8:1:2::1]', '2001:0db8:0001:0002::0001']
const SAME_64 = ['2001:db8:1:2::2', '2001:db8:1:2::3', '2001:db8:1:2::4', '2001:db8:1:2:ffff:ffff:ffff:ffff']
const OTHER_64 = '2001:db8:1:3::1'
const V4_SPELLINGS = ['::ffff:1.2.3.4', '::ffff:102:304', '[::FFFF:1.2.3.4]']

let sequence = 0
const uniquePack = (): string => `ip${Date.now().toString(36)}${(sequence++).toString(36)}`

let alice: MintedKey
let gatewayYaml: string

beforeAll(async () => {
  alice = await mintKey('alice')
  gatewayYaml = `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`
})

function anonPack(id: string, section: string): Record<string, string> {
  return {
    [id]: `pack: ${id}\nupstream: $BACKEND\nmatch: { path_prefix: /${id} }\nauth: [api_key]\nanonymous: allow\n${section}`,
  }
}

async function status(gw: Gateway, path: string, ip: string | null, init: RequestInit = {}): Promise<number> {
  const response = await gw.fetch(path, { ...init, ip })
  await response.arrayBuffer()
  return response.status
}

describe('an anon-ip rate limit', () => {
  // A fixed window of a minute: keep each test's requests inside one window.
  beforeEach(async () => {
    const left = 60_000 - (Date.now() % 60_000)
    if (left < 10_000) await new Promise((resolve) => setTimeout(resolve, left + 5))
  })

  it('exhausted from one IPv6 address refuses its other spellings and its /64, not another /64', async () => {
    const id = uniquePack()
    const gw = gateway(
      anonPack(
        id,
        'rate_limits:\n  - { id: anon-ip, by: ip, when: { kind: anonymous }, limit: 2, window: 1m, algorithm: fixed_window }\n',
      ),
      gatewayYaml,
      undefined,
      { GATEWAY_STORE: env.GATEWAY_STORE },
    )
    const path = `/${id}/x`
    expect(await status(gw, path, '2001:db8:1:2::1')).toBe(200)
    expect(await status(gw, path, '2001:db8:1:2::1')).toBe(200)
    expect(await status(gw, path, '2001:db8:1:2::1')).toBe(429)
    for (const ip of [...SPELLINGS, ...SAME_64]) expect([ip, await status(gw, path, ip)]).toEqual([ip, 429])
    expect(await status(gw, path, OTHER_64)).toBe(200)
  })

  it('exhausted from one IPv4 address refuses its IPv4-mapped spellings, not the next address', async () => {
    const id = uniquePack()
    const gw = gateway(
      anonPack(
        id,
        'rate_limits:\n  - { id: anon-ip, by: ip, when: { kind: anonymous }, limit: 1, window: 1m, algorithm: fixed_window }\n',
      ),
      gatewayYaml,
      undefined,
      { GATEWAY_STORE: env.GATEWAY_STORE },
    )
    const path = `/${id}/x`
    expect(await status(gw, path, '1.2.3.4')).toBe(200)
    for (const ip of ['1.2.3.4', ...V4_SPELLINGS]) expect([ip, await status(gw, path, ip)]).toEqual([ip, 429])
    expect(await status(gw, path, '1.2.3.5')).toBe(200)
  })

  it('by ip counts a keyed caller by its /64 too; a value that is no address is not counted, as a missing one', async () => {
    const id = uniquePack()
    const gw = gateway(
      anonPack(id, 'rate_limits:\n  - { id: per-ip, by: ip, limit: 1, window: 1m, algorithm: fixed_window }\n'),
      gatewayYaml,
      undefined,
      { GATEWAY_STORE: env.GATEWAY_STORE },
    )
    const path = `/${id}/x`
    const keyed = { headers: { 'x-api-key': alice.key } }
    expect(await status(gw, path, '2001:db8:9:9::1', keyed)).toBe(200)
    expect(await status(gw, path, '2001:DB8:9:9::abcd', keyed)).toBe(429)
    // A value that is no address is counted as a missing one: the rule has no key for it (as
    // before for a missing address), and the value never becomes a key of its own.
    for (const ip of [null, null, 'not-an-address', 'not-an-address', '1.2.3.4:80'])
      expect([ip, await status(gw, path, ip, keyed)]).toEqual([ip, 200])
  })
})

describe('a by-ip concurrency rule', () => {
  it('holds one slot for a whole /64, whatever the spelling', async () => {
    const id = uniquePack()
    const gw = gateway(
      anonPack(id, 'concurrency:\n  - { id: streams-ip, by: ip, limit: 1 }\n'),
      gatewayYaml,
      undefined,
      { GATEWAY_STORE: env.GATEWAY_STORE },
    )
    const first = await openSse(gw, `/${id}/sse-ticks`, { ip: '2001:db8:7:7::1' })
    expect(first.response.status).toBe(200)
    try {
      for (const ip of ['[2001:DB8:7:7:0:0:0:1]', '2001:db8:7:7::99']) {
        const refused = await gw.fetch(`/${id}/sse-ticks`, { ip })
        expect([ip, refused.status]).toEqual([ip, 429])
        await refused.arrayBuffer()
      }
      const other = await openSse(gw, `/${id}/sse-ticks`, { ip: '2001:db8:7:8::1' })
      expect(other.response.status).toBe(200)
      await other.close()
    } finally {
      await first.close()
    }
  })
})

describe('anonymous ids and X-Forwarded-For', () => {
  let gw: Gateway
  beforeAll(() => {
    gw = gateway(anonPack('open', ''), gatewayYaml)
  })

  const seen = async (ip: string): Promise<{ id: string; forwardedFor: string | undefined }> => {
    const response = await gw.fetch('/open/x', { ip })
    expect(response.status).toBe(200)
    const echo = (await response.json()) as Echo
    const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'open')
    return { id: payload.sub as string, forwardedFor: echo.headers['x-forwarded-for'] }
  }

  it('one id for every spelling of an address and for its whole /64; the backend gets the whole address, canonical', async () => {
    const base = await seen('2001:db8:1:2::1')
    expect(base.id).toMatch(/^anon:[A-Za-z0-9_-]{22}$/)
    expect(base.forwardedFor).toBe('2001:db8:1:2::1')
    for (const ip of SPELLINGS) expect(await seen(ip)).toEqual({ id: base.id, forwardedFor: '2001:db8:1:2::1' })
    for (const ip of SAME_64) {
      const other = await seen(ip)
      expect(other.id).toBe(base.id)
      // Keyed by /64, but the backend still learns the caller's own address.
      expect(other.forwardedFor).toBe(ip)
    }
    expect((await seen(OTHER_64)).id).not.toBe(base.id)
  })

  it('one id for an IPv4 address and its IPv4-mapped spellings; another for the next address', async () => {
    const base = await seen('1.2.3.4')
    for (const ip of V4_SPELLINGS) expect(await seen(ip)).toEqual({ id: base.id, forwardedFor: '1.2.3.4' })
    expect((await seen('1.2.3.5')).id).not.toBe(base.id)
  })

  it.each(['not-an-address', '1.2.3.4, 6.6.6.6', '01.2.3.4', '[2001:db8::1]:443', '2001:db8:::1'])(
    'a CF-Connecting-IP of %j is no address: no anonymous id (401), no X-Forwarded-For for a keyed caller',
    async (ip) => {
      const anonymous = await gw.fetch('/open/x', { ip })
      expect(anonymous.status).toBe(401)
      expect(((await anonymous.json()) as { detail: string }).detail).toMatch(/no client address/)
      const keyed = await gw.fetch('/open/x', { ip, headers: { 'x-api-key': alice.key } })
      expect(keyed.status).toBe(200)
      expect(((await keyed.json()) as Echo).headers['x-forwarded-for']).toBeUndefined()
    },
  )
})

describe('explain', () => {
  it('names the key the Worker hashes: ids equal in explain exactly when equal in the Worker', async () => {
    const packs = anonPack('open', '')
    const withBackend = { open: packs['open']!.replaceAll('$BACKEND', env.TEST_BACKEND_ORIGIN) }
    const policy = compileYaml(withBackend, gatewayYaml).policy
    const gw = gateway(packs, gatewayYaml)
    const explained = (ip: string): string | null =>
      explain(policy, { method: 'GET', url: 'https://gw.test/open/x' }, { anonymous: true, ip }, 0).invoker?.invoker
        .id ?? null
    expect(explained('[2001:DB8:1:2::1]')).toBe('anon:2001:db8:1:2::/64')
    expect(explained('::ffff:102:304')).toBe('anon:1.2.3.4')
    expect(
      explain(policy, { method: 'GET', url: 'https://gw.test/open/x' }, { anonymous: true, ip: 'x' }, 0),
    ).toMatchObject({
      decision: 'unauthenticated',
      reason: 'no_client_address',
    })
    const addresses = [...SPELLINGS, ...SAME_64, OTHER_64, '1.2.3.4', ...V4_SPELLINGS, '1.2.3.5']
    const worker = new Map<string, string>()
    for (const ip of addresses) {
      const echo = (await (await gw.fetch('/open/x', { ip })).json()) as Echo
      const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'open')
      worker.set(ip, payload.sub as string)
    }
    for (const a of addresses)
      for (const b of addresses)
        expect([a, b, explained(a) === explained(b)]).toEqual([a, b, worker.get(a) === worker.get(b)])
  })
})
