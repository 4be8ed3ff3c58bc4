import { exportJWK, generateKeyPair, type JWK } from 'jose'

/**
 * Prints a JWK set for `wrangler secret put INVOKER_SIGNING_KEYS`. With the current set as
 * `previous`, the new key signs and the old first key stays published, so backends holding
 * cached JWKS keep verifying during the roll-over.
 */
export async function generateSigningKeysCommand(alg: string, previous?: string): Promise<number> {
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new Error('--alg is EdDSA or ES256')
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) })
  const jwk: JWK = { ...(await exportJWK(privateKey)), alg, kid: new Date().toISOString().slice(0, 10) + '-' + crypto.randomUUID().slice(0, 8) }
  const keys: JWK[] = [jwk]
  if (previous) {
    const old = (JSON.parse(previous) as { keys?: JWK[] }).keys?.[0]
    if (!old) throw new Error('--previous holds no key')
    keys.push(old)
  }
  console.log(JSON.stringify({ keys }))
  return 0
}
