/**
 * The five algorithms of RFC 9421 §3.3, in one table: the WebCrypto parameters that sign and
 * verify, the key each needs, and its JOSE name for jose's key importer and generator. The
 * Worker verifies with it (algorithms.ts), the build checks signers' keys and lists the
 * algorithms in the policy schema with it, and the CLI generates keys and signs with it, so an
 * algorithm is defined once. Data only: no key is touched here.
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
  /** The JOSE algorithm of the key (RFC 7518 §3.1, RFC 8037 §3.1). */
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

export const SIGNATURE_ALGORITHMS = Object.keys(SIGNATURE_ALGORITHM_TABLE) as [
  SignatureAlgorithm,
  ...SignatureAlgorithm[],
]

export function isSignatureAlgorithm(value: string): value is SignatureAlgorithm {
  return Object.hasOwn(SIGNATURE_ALGORITHM_TABLE, value)
}

/** The algorithm a directory key is for (Web Bot Auth keys carry no `alg`; an RSA key's `alg` picks PSS or v1.5). */
export function algorithmOfJwk(jwk: JWK): SignatureAlgorithm | null {
  if (hasShape(jwk, 'Ed25519')) return 'ed25519'
  if (hasShape(jwk, 'P-256')) return 'ecdsa-p256-sha256'
  if (hasShape(jwk, 'RSA')) return jwk.alg === 'RS256' ? 'rsa-v1_5-sha256' : 'rsa-pss-sha512'
  return null
}
