/**
 * The JS verifier's JWKS cache while the gateway's JWKS endpoint fails (red team F4), against a
 * real HTTP server that counts fetches, can answer 500 and can hold its answers: a failed fetch
 * is remembered for the cooldown, the last good keys keep verifying up to `stale` past `maxAge`,
 * and a fetch under way makes no other token wait unless there are no keys to use. The detailed
 * rules run on the cache class with an injected clock; two run through createInvokerVerifier().
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createInvokerVerifier, InvokerVerificationError, type ReasonCode } from '../../packages/verifier/src/index.ts'
import { RemoteJwks } from '../../packages/verifier/src/jwks.ts'
import { selectKeys } from '../../packages/verifier/src/keys.ts'

const ISSUER = 'https://gw.test'
let server: Server
let origin: string
let published: JWK[] = []
let status = 200
let fetches = 0
/** While set, every answer waits for it (a fetch held under way). */
let held: Promise<void> | null = null
let release: () => void = () => undefined

beforeAll(async () => {
  server = createServer(async (_req, res) => {
    fetches++
    if (held) await held
    if (status !== 200) {
      res.writeHead(status).end()
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: published }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  release()
  server.close()
})

let known: { privateKey: CryptoKey; jwk: JWK }
beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  known = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA' } }
})
beforeEach(() => {
  published = [known.jwk]
  status = 200
  fetches = 0
})

function hold(): void {
  held = new Promise((resolve) => {
    release = () => {
      held = null
      resolve()
    }
  })
}

const S = 1000
let path = 0
/** A cache on a URL of its own, with the default settings unless told, and a clock the test moves. */
function cache(clock: { t: number }, settings: Partial<ConstructorParameters<typeof RemoteJwks>[1]> = {}): RemoteJwks {
  return new RemoteJwks(
    new URL(`${origin}/jwks/${path++}`),
    { maxAgeMs: 600 * S, cooldownMs: 30 * S, timeoutMs: 5 * S, staleMs: 3600 * S, ...settings },
    selectKeys,
    () => clock.t,
  )
}

async function reason(promise: Promise<unknown>): Promise<ReasonCode | 'ok'> {
  try {
    await promise
    return 'ok'
  } catch (error) {
    if (error instanceof InvokerVerificationError) return error.reason
    throw error
  }
}

const kid = (id: string) => ({ alg: 'EdDSA', kid: id })

describe('the remote JWKS cache (injected clock)', () => {
  it('remembers a failed fetch for the cooldown: unknown kids cost one fetch per cooldown', async () => {
    const clock = { t: 1_000_000 }
    const remote = cache(clock)
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    status = 500
    clock.t += 40 * S // past the cooldown, within maxAge
    const reasons = new Set<string>()
    for (let i = 0; i < 20; i++) reasons.add(await reason(remote.keys(kid(`made-up-${i}`))))
    expect([...reasons]).toEqual(['key_unknown'])
    expect(fetches).toBe(2)
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    clock.t += 29 * S
    expect(await reason(remote.keys(kid('made-up-x')))).toBe('key_unknown')
    expect(fetches).toBe(2)
    clock.t += 2 * S
    expect(await reason(remote.keys(kid('made-up-y')))).toBe('key_unknown')
    expect(fetches).toBe(3)
  })

  it('with no keys, asks a failing endpoint once per cooldown', async () => {
    const clock = { t: 1_000_000 }
    const remote = cache(clock)
    status = 500
    for (let i = 0; i < 20; i++) expect(await reason(remote.keys(kid('k1')))).toBe('keys_unavailable')
    expect(fetches).toBe(1)
    status = 200
    expect(await reason(remote.keys(kid('k1')))).toBe('keys_unavailable')
    clock.t += 31 * S
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    expect(fetches).toBe(2)
  })

  it('stale-on-error: the last good keys verify up to stale after they were fetched, retries a cooldown apart', async () => {
    const clock = { t: 1_000_000 }
    const fetchedAt = clock.t
    const remote = cache(clock)
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    status = 500
    clock.t = fetchedAt + 600 * S // maxAge: a refresh is due, and fails
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    expect(fetches).toBe(2)
    clock.t += 10 * S
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    expect(fetches).toBe(2)
    clock.t += 21 * S
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    expect(fetches).toBe(3)
    clock.t = fetchedAt + 3600 * S
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    clock.t = fetchedAt + 3631 * S
    expect(await reason(remote.keys(kid('k1')))).toBe('keys_unavailable')
    expect(fetches).toBe(5)
    status = 200
    clock.t += 30 * S
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    expect(fetches).toBe(6)
  })

  it('a fetch under way: known kids verify with the keys held, unknown kids are refused, at once', async () => {
    const clock = { t: 1_000_000 }
    const remote = cache(clock)
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    clock.t += 600 * S
    hold()
    const refreshing = remote.keys(kid('k1'))
    while (fetches < 2) await new Promise((r) => setTimeout(r, 5))
    expect(await reason(remote.keys(kid('k1')))).toBe('ok')
    expect(await reason(remote.keys(kid('made-up')))).toBe('key_unknown')
    expect(fetches).toBe(2)
    release()
    expect(await reason(refreshing)).toBe('ok')
  })

  it('with no keys, tokens wait for the one fetch under way', async () => {
    const clock = { t: 1_000_000 }
    const remote = cache(clock)
    hold()
    const waiting = Array.from({ length: 5 }, () => reason(remote.keys(kid('k1'))))
    while (fetches < 1) await new Promise((r) => setTimeout(r, 5))
    release()
    expect(await Promise.all(waiting)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    expect(fetches).toBe(1)
  })
})

describe('createInvokerVerifier() with a failing JWKS endpoint', () => {
  const url = 'http://b.test/run'
  const token = (keyId: string): Promise<string> => {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({
      iss: ISSUER,
      aud: 'crm',
      sub: 'apikey:ci',
      iat: now,
      exp: now + 60,
      jti: crypto.randomUUID(),
      invoker: { id: 'apikey:ci', kind: 'apiKey', meta: {} },
      auth: { method: 'api_key', api_key: 'ci' },
      htm: 'GET',
      htu: url,
    })
      .setProtectedHeader({ alg: 'EdDSA', kid: keyId, typ: 'invoker+jwt' })
      .sign(known.privateKey)
  }
  const verify = async (verifier: ReturnType<typeof createInvokerVerifier>, keyId: string) =>
    reason(verifier.verify({ method: 'GET', url, headers: new Headers({ 'x-invoker': await token(keyId) }) }))

  it('fetches a failing endpoint once for 20 tokens, not once per token', async () => {
    status = 500
    const verifier = createInvokerVerifier({ jwksUrl: `${origin}/cold`, issuer: ISSUER, audience: 'crm' })
    for (let i = 0; i < 20; i++) expect(await verify(verifier, `k${i}`)).toBe('keys_unavailable')
    expect(fetches).toBe(1)
  })

  it('past maxAge keeps verifying with the last good keys while the endpoint fails', async () => {
    // maxAge passes in the test; the cooldown (counted from the good fetch) does not.
    const verifier = createInvokerVerifier({
      jwksUrl: `${origin}/stale`,
      issuer: ISSUER,
      audience: 'crm',
      jwksCache: { maxAgeMs: 100, cooldownMs: 60_000 },
    })
    expect(await verify(verifier, 'k1')).toBe('ok')
    status = 500
    await new Promise((r) => setTimeout(r, 200))
    expect(await verify(verifier, 'k1')).toBe('ok')
    for (let i = 0; i < 20; i++) expect(await verify(verifier, `made-up-${i}`)).toBe('key_unknown')
    expect(fetches).toBe(1)
  })
})
