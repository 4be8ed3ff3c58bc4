/**
 * The five algorithms of RFC 9421 §3.3, in one table: the WebCrypto parameters that sign and
 * verify, the key each needs, and its JOSE name for jose's key importer. The Worker verifies
 * with it, the build checks signers' keys with it, and the CLI signs and generates keys with it,
 * so an algorithm is defined once.
 *
 * @module
 */
import type { JWK } from 'jose'
import { hasShape, type KeyShapeName } from '../../../keys/jwk-shapes.ts'
import type { SignatureAlgorithm } from '../../../policy/types.ts'

export interface AlgorithmEntry {
  /** WebCrypto parameters of `sign` and `verify` (RFC 9421 §3.3: PSS salt of 64 bytes; ECDSA as r‖s). */
  params: Parameters<typeof crypto.subtle.verify>[0]
  /** The key it takes: a JWK of this shape, or for HMAC a shared secret. */
  key: KeyShapeName
  /** The JOSE algorithm of the key (RFC 7518 §3.1, RFC 8037 §3.1), for jose's importer and key generator. */
  jose: string
}

/** In the order the policy schema lists them. */
export const SIGNATURE_ALGORITHM_TABLE: Record<SignatureAlgorithm, AlgorithmEntry> = {
  ed25519: { params: { name: 'Ed25519' }, key: 'Ed25519', jose: 'Ed25519' },
  'ecdsa-p256-sha256': { params: { name: 'ECDSA', hash: 'SHA-256' }, key: 'P-256', jose: 'ES256' },
  'rsa-pss-sha512': { params: { name: 'RSA-PSS', saltLength: 64 }, key: 'RSA', jose: 'PS512' },
  'rsa-v1_5-sha256': { params: { name: 'RSASSA-PKCS1-v1_5' }, key: 'RSA', jose: 'RS256' },
  'hmac-sha256': { params: { name: 'HMAC' }, key: 'oct', jose: 'HS256' },
}

export const SIGNATURE_ALGORITHMS = Object.keys(SIGNATURE_ALGORITHM_TABLE) as [SignatureAlgorithm, ...SignatureAlgorithm[]]

export function isSignatureAlgorithm(value: string): value is SignatureAlgorithm {
  return Object.hasOwn(SIGNATURE_ALGORITHM_TABLE, value)
}

export function importHmacKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
}

const encoder = new TextEncoder()

export async function verifySignature(algorithm: SignatureAlgorithm, key: CryptoKey, base: string, signature: Uint8Array): Promise<boolean> {
  try {
    return await crypto.subtle.verify(SIGNATURE_ALGORITHM_TABLE[algorithm].params, key, signature, encoder.encode(base))
  } catch {
    // A key of the wrong type for the algorithm, a signature of a length the key cannot have.
    return false
  }
}

/** The algorithm a directory key is for (Web Bot Auth keys carry no `alg`; an RSA key's `alg` picks PSS or v1.5). */
export function algorithmOfJwk(jwk: JWK): SignatureAlgorithm | null {
  if (hasShape(jwk, 'Ed25519')) return 'ed25519'
  if (hasShape(jwk, 'P-256')) return 'ecdsa-p256-sha256'
  if (hasShape(jwk, 'RSA')) return jwk.alg === 'RS256' ? 'rsa-v1_5-sha256' : 'rsa-pss-sha512'
  return null
}
