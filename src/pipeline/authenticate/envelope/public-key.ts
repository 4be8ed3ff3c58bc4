/**
 * How a signer's public key is imported, in one place for the Worker and for the build (which
 * imports every policy key the same way, so a key that would not import fails the build).
 * jose's `importJWK` knows every JWK shape; RFC 9421 §3.3 fixes the algorithm of each.
 *
 * @module
 */
import { importJWK, type JWK } from 'jose'
import type { SignatureAlgorithm } from '../../../policy/types.ts'

/** The JOSE name of each algorithm's key, for jose's importer. */
const JOSE_ALG: Record<Exclude<SignatureAlgorithm, 'hmac-sha256'>, string> = {
  ed25519: 'Ed25519',
  'ecdsa-p256-sha256': 'ES256',
  'rsa-pss-sha512': 'PS512',
  'rsa-v1_5-sha256': 'RS256',
}

export async function importPublicKey(algorithm: Exclude<SignatureAlgorithm, 'hmac-sha256'>, jwk: JWK): Promise<CryptoKey> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, k: _k, ...publicJwk } = jwk
  return (await importJWK({ ...publicJwk, ext: true }, JOSE_ALG[algorithm])) as CryptoKey
}
