/**
 * The X-Invoker JWS is built on crypto.subtle with a protected header encoded once per key and
 * workerd's native base64url (issue 18, item 7). Inside workerd, where that native encoder runs
 * (the conformance vectors in test/vectors are generated on Node, with jose's encoder), the
 * tokens must be byte for byte those jose's CompactSign makes with the same key and header:
 * Ed25519 and HMAC signatures are deterministic; an ECDSA one is not, so an ES256 token must
 * match in its header and payload and verify.
 */
import { CompactSign, compactVerify, importJWK, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import keysFile from '../../../test/vectors/keys.json'
import { INVOKER_TOKEN_TYPE } from '../../constants.ts'
import { loadSigningKeys, type SigningKeySet } from '../../keys/signing-keys.ts'
import { invokerClaims, signInvokerToken } from './invoker-jwt.ts'

async function keySet(keys: JWK[]): Promise<SigningKeySet> {
  const loaded = await loadSigningKeys(JSON.stringify({ keys }))
  if (!loaded.ok) throw new Error(loaded.problem)
  return loaded.keys
}

const [ed25519, p256] = keysFile.gateway.keys as JWK[]
const SETS: Record<string, () => Promise<SigningKeySet>> = {
  EdDSA: () => keySet([ed25519 as JWK]),
  ES256: () => keySet([p256 as JWK]),
  HS256: () => keySet(keysFile.hs256.keys as JWK[]),
}

const claims = (meta: Record<string, unknown>) =>
  invokerClaims({
    issuer: 'https://gateway.example.test',
    audience: 'crm',
    ttlSeconds: 60,
    requestId: '6a1f1c1e-0b7e-4c55-9d1e-2f4b5e7a9c01',
    invoker: { id: 'apikey:alice', kind: 'service', label: 'Alice ✓', meta: meta as never },
    auth: { method: 'api_key', key: 'alice' } as never,
    method: 'POST',
    upstreamUrl: 'https://crm.internal.example/agents/run?q=a%20b',
    nowSeconds: 1_800_000_000,
    mcp: { method: 'tools/call', tool: 'search' },
  })

describe.each(Object.keys(SETS))('X-Invoker signed with %s on crypto.subtle', (alg) => {
  it('is the token jose signs with the same key and header (native base64url, cached header)', async () => {
    const keys = await (SETS[alg] as () => Promise<SigningKeySet>)()
    const header = { alg: keys.signer.alg, kid: keys.signer.kid, typ: INVOKER_TOKEN_TYPE }
    // Payloads whose base64url ends with each padding length, and non-ASCII text.
    for (const meta of [{}, { team: 'ü' }, { team: 'üx' }, { team: 'üxy', n: [1, 2, 3] }]) {
      const c = claims(meta)
      // Twice: the second token uses the header encoded by the first.
      for (let round = 0; round < 2; round++) {
        const ours = await signInvokerToken(c, keys)
        const theirs = await new CompactSign(new TextEncoder().encode(JSON.stringify(c)))
          .setProtectedHeader(header)
          .sign(keys.signer.key)
        if (alg === 'ES256') {
          expect(ours.split('.').slice(0, 2)).toEqual(theirs.split('.').slice(0, 2))
          const publicKey = await importJWK({ ...(p256 as JWK), d: undefined }, 'ES256')
          await expect(compactVerify(ours, publicKey)).resolves.toBeDefined()
        } else {
          expect(ours).toBe(theirs)
        }
      }
    }
  })
})
