/**
 * Build-time import of every key the policy holds (signers' public keys, issuers' inline JWKS),
 * with the very code and algorithm parameters the Worker imports them with at run time (jose on
 * WebCrypto, here Node's): a key that passes the schema but that WebCrypto refuses (a point off
 * its curve, an Ed25519 key of the wrong length, a malformed modulus) fails the build with
 * `file:line:col` instead of failing requests after the deploy.
 *
 * Async (WebCrypto is), so it runs after the pure, synchronous compiler: the build and `check`
 * call {@link compilePoliciesWithKeys}.
 *
 * @module
 */
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet } from 'jose'
import { importPublicKey } from '../../pipeline/authenticate/envelope/public-key.ts'
import type { CompiledPolicy, SignatureAlgorithm } from '../types.ts'
import {
  compilePolicies,
  errorAt,
  GATEWAY_FILE,
  type CompileInput,
  type CompileResult,
  type PolicyError,
} from './compile.ts'

export async function compilePoliciesWithKeys(input: CompileInput): Promise<CompileResult> {
  const result = compilePolicies(input)
  if (!result.ok) return result
  const errors = await keyImportErrors(input, result.policy)
  return errors.length > 0 ? { ok: false, errors } : result
}

export async function keyImportErrors(input: CompileInput, policy: CompiledPolicy): Promise<PolicyError[]> {
  const gateway = input.policies.find((f) => f.path.slice(f.path.lastIndexOf('/') + 1) === GATEWAY_FILE)
  if (gateway === undefined) return []
  const errors: PolicyError[] = []

  for (const signer of Object.values(policy.signers)) {
    if (signer.jwk === null) continue
    const algorithm = signer.algorithm as Exclude<SignatureAlgorithm, 'hmac-sha256'>
    try {
      await importPublicKey(algorithm, signer.jwk as never)
    } catch (error) {
      errors.push(
        errorAt(gateway, ['signers', signer.name, 'jwk'], `the key does not import for ${algorithm}: ${why(error)}`),
      )
    }
  }

  for (const issuer of Object.values(policy.issuers)) {
    if (issuer.keys?.source !== 'jwks') continue
    const { keys } = issuer.keys.jwks
    for (const [i, jwk] of keys.entries()) {
      // The Worker asks a local set for the token's alg; so does this, one key at a time, for
      // every pinned algorithm the key is meant for (jose skips a key no pinned alg can use).
      for (const alg of issuer.algorithms) {
        try {
          await createLocalJWKSet({ keys: [jwk] } as unknown as JSONWebKeySet)({ alg })
        } catch (error) {
          if (error instanceof joseErrors.JWKSNoMatchingKey) continue
          errors.push(
            errorAt(
              gateway,
              ['issuers', issuer.name, 'jwks', 'keys', i],
              `the key does not import for ${alg}: ${why(error)}`,
            ),
          )
          break
        }
      }
    }
  }
  return errors
}

/** WebCrypto's and jose's messages say what is wrong with the key; they hold no secret. */
function why(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error)
}
