/**
 * Signing-key rotation without the old private key: the new secret holds only the new key, the
 * old public key is listed under `previous_signing_keys` with a date, and `/.well-known/jwks.json`
 * publishes it until then, so tokens the old key signed keep verifying at the backends.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { gateway, mintKey, type Echo, type MintedKey } from './harness.ts'

const ECHO = `
pack: echo
upstream: $BACKEND
match: { path_prefix: /packs/echo }
auth: [api_key]
`

interface KeyPair {
  secret: string
  publicJwk: JWK
}

async function signingKey(alg: 'EdDSA' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  return {
    secret: JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), alg, kid }] }),
    publicJwk: { ...(await exportJWK(publicKey)), alg, kid },
  }
}

const previousEntry = (jwk: JWK, until: string): string => `  - until: ${until}\n    jwk: ${JSON.stringify(jwk)}\n`

let alice: MintedKey
let oldKey: KeyPair
let newKey: KeyPair

beforeAll(async () => {
  alice = await mintKey('alice')
  oldKey = await signingKey('EdDSA', 'old-2026-10')
  newKey = await signingKey('ES256', 'new-2026-11')
})

async function invokerToken(response: Response): Promise<string> {
  expect(response.status).toBe(200)
  return ((await response.json()) as Echo).headers['x-invoker'] as string
}

async function jwks(gw: ReturnType<typeof gateway>): Promise<JWK[]> {
  const response = await gw.fetch('/.well-known/jwks.json')
  expect(response.status).toBe(200)
  return ((await response.json()) as { keys: JWK[] }).keys
}

describe('previous_signing_keys', () => {
  it('publishes the old public key after the new one until its date, so a token the old key signed still verifies', async () => {
    const before = gateway({ echo: ECHO }, `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`, oldKey.secret)
    const oldToken = await invokerToken(await before.fetch('/packs/echo/x', { headers: { 'x-api-key': alice.key } }))

    const after = gateway(
      { echo: ECHO },
      `issuer: https://gateway.test\napi_keys:\n${alice.yaml}previous_signing_keys:\n${previousEntry(oldKey.publicJwk, '2999-01-01')}`,
      newKey.secret,
    )
    const keys = await jwks(after)
    expect(keys.map((k) => k.kid)).toEqual(['new-2026-11', 'old-2026-10'])
    expect(keys[1]).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: oldKey.publicJwk.x,
      kid: 'old-2026-10',
      alg: 'EdDSA',
      use: 'sig',
    })

    const options = {
      issuer: 'https://gateway.test',
      audience: 'echo',
      typ: 'invoker+jwt',
      algorithms: ['EdDSA', 'ES256'],
    }
    const verifiedOld = await jwtVerify(oldToken, createLocalJWKSet({ keys }), options)
    expect(verifiedOld.protectedHeader.kid).toBe('old-2026-10')
    // The new secret signs: only its key is in it, and the old private key is needed nowhere.
    const newToken = await invokerToken(await after.fetch('/packs/echo/x', { headers: { 'x-api-key': alice.key } }))
    expect((await jwtVerify(newToken, createLocalJWKSet({ keys }), options)).protectedHeader).toMatchObject({
      alg: 'ES256',
      kid: 'new-2026-11',
    })
  })

  it('stops publishing the old key once its date has passed, and then its tokens fail', async () => {
    const before = gateway({ echo: ECHO }, `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`, oldKey.secret)
    const oldToken = await invokerToken(await before.fetch('/packs/echo/x', { headers: { 'x-api-key': alice.key } }))
    const later = gateway(
      { echo: ECHO },
      `issuer: https://gateway.test\napi_keys:\n${alice.yaml}previous_signing_keys:\n${previousEntry(oldKey.publicJwk, '2001-01-01T00:00:00Z')}`,
      newKey.secret,
    )
    const keys = await jwks(later)
    expect(keys.map((k) => k.kid)).toEqual(['new-2026-11'])
    await expect(
      jwtVerify(oldToken, createLocalJWKSet({ keys }), { issuer: 'https://gateway.test', audience: 'echo' }),
    ).rejects.toThrow()
  })

  it('publishes a kid that is both in the secret and in policy once, as the secret has it', async () => {
    const both = gateway(
      { echo: ECHO },
      `issuer: https://gateway.test\napi_keys:\n${alice.yaml}previous_signing_keys:\n${previousEntry(oldKey.publicJwk, '2999-01-01')}${previousEntry({ ...newKey.publicJwk, alg: 'ES256' }, '2999-01-01')}`,
      newKey.secret,
    )
    const keys = await jwks(both)
    expect(keys.map((k) => k.kid)).toEqual(['new-2026-11', 'old-2026-10'])
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'new-2026-11' })
  })
})
