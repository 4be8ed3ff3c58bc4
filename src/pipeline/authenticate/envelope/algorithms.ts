/**
 * Verifying a signature with WebCrypto, by the algorithm table (algorithm-table.ts). Keys are
 * imported once (public-key.ts, with jose's `importJWK`, which knows every JWK shape) and cached
 * for the isolate.
 *
 * @module
 */
import type { SignatureAlgorithm } from '../../../policy/types.ts'
import { SIGNATURE_ALGORITHM_TABLE } from './algorithm-table.ts'

export function importHmacKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
}

const encoder = new TextEncoder()

export async function verifySignature(
  algorithm: SignatureAlgorithm,
  key: CryptoKey,
  base: string,
  signature: Uint8Array,
): Promise<boolean> {
  try {
    return await crypto.subtle.verify(SIGNATURE_ALGORITHM_TABLE[algorithm].params, key, signature, encoder.encode(base))
  } catch {
    // A key of the wrong type for the algorithm, a signature of a length the key cannot have.
    return false
  }
}
