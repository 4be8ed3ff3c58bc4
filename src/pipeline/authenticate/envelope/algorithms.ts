/**
 * The five algorithms of RFC 9421 §3.3, verified with WebCrypto. Keys are imported once (with
 * jose's `importJWK`, which knows every JWK shape) and cached for the isolate.
 *
 * @module
 */
import type { JWK } from 'jose'
import type { SignatureAlgorithm } from '../../../policy/types.ts'

export { importPublicKey } from './public-key.ts'

/** WebCrypto parameters of `verify` (RFC 9421 §3.3: PSS salt of 64 bytes; ECDSA as r‖s). */
const VERIFY_PARAMS: Record<SignatureAlgorithm, Parameters<typeof crypto.subtle.verify>[0]> = {
  ed25519: { name: 'Ed25519' },
  'ecdsa-p256-sha256': { name: 'ECDSA', hash: 'SHA-256' },
  'rsa-pss-sha512': { name: 'RSA-PSS', saltLength: 64 },
  'rsa-v1_5-sha256': { name: 'RSASSA-PKCS1-v1_5' },
  'hmac-sha256': { name: 'HMAC' },
}

export function importHmacKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
}

const encoder = new TextEncoder()

export async function verifySignature(algorithm: SignatureAlgorithm, key: CryptoKey, base: string, signature: Uint8Array): Promise<boolean> {
  try {
    return await crypto.subtle.verify(VERIFY_PARAMS[algorithm], key, signature, encoder.encode(base))
  } catch {
    // A key of the wrong type for the algorithm, a signature of a length the key cannot have.
    return false
  }
}

/** The algorithm a directory key is for (Web Bot Auth keys carry no `alg`). */
export function algorithmOfJwk(jwk: JWK): SignatureAlgorithm | null {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'ed25519'
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ecdsa-p256-sha256'
  if (jwk.kty === 'RSA') return jwk.alg === 'RS256' ? 'rsa-v1_5-sha256' : 'rsa-pss-sha512'
  return null
}
