/**
 * How a signer's public key is imported, in one place for the Worker and for the build (which
 * imports every policy key the same way, so a key that would not import fails the build).
 * jose's `importJWK` knows every JWK shape; RFC 9421 §3.3 fixes the algorithm of each, and the
 * algorithm table (algorithm-table.ts) gives its JOSE name.
 *
 * @module
 */
import { importJWK, type JWK } from 'jose'
import { PRIVATE_MEMBERS } from '../../../keys/jwk-shapes.ts'
import type { SignatureAlgorithm } from '../../../policy/types.ts'
import { SIGNATURE_ALGORITHM_TABLE } from './algorithm-table.ts'

export async function importPublicKey(
  algorithm: Exclude<SignatureAlgorithm, 'hmac-sha256'>,
  jwk: JWK,
): Promise<CryptoKey> {
  const publicJwk: Record<string, unknown> = { ...jwk, ext: true }
  for (const member of PRIVATE_MEMBERS) delete publicJwk[member]
  return (await importJWK(publicJwk as JWK, SIGNATURE_ALGORITHM_TABLE[algorithm].jose)) as CryptoKey
}
