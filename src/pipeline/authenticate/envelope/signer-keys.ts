/**
 * Signer keys, imported once per isolate. Only a key that imported is kept: a failed import
 * (a key the build could not check, a Worker secret that changed to something WebCrypto refuses)
 * is tried again on the next request rather than remembered, so the fix of a key takes effect at
 * once and a failure is never a permanent answer. Bounded by the policy: one entry per signer.
 *
 * @module
 */
import { base64ToArrayBuffer } from 'structured-headers'
import { MIN_HMAC_KEY_BYTES } from '../../../constants.ts'
import { namedSecret, type Bindings } from '../../../env.ts'
import type { CompiledSigner, SignatureAlgorithm } from '../../../policy/types.ts'
import { ok, unavailable, type Outcome } from '../../../outcome.ts'
import { importHmacKey } from './algorithms.ts'
import { importPublicKey } from './public-key.ts'

export class KeyImports {
  readonly #keys = new Map<string, { version: string; key: CryptoKey }>()

  /**
   * The key of `name` as of `version` (an HMAC signer's secret: a new secret is a new key);
   * `importKey` runs when there is none yet, and its failure is thrown, not kept.
   */
  async get(name: string, version: string, importKey: () => Promise<CryptoKey>): Promise<CryptoKey> {
    const held = this.#keys.get(name)
    if (held !== undefined && held.version === version) return held.key
    const key = await importKey()
    this.#keys.set(name, { version, key })
    return key
  }
}

/** The keys of the policy's signers: an HMAC signer's from its Worker secret, the others' from their JWK. */
export class SignerKeys {
  readonly #keys = new KeyImports()

  /**
   * The signer's key. One that does not import is the operator's problem, not the caller's: the
   * answer is 503 with the reason in the log, and the import is tried again on the next request
   * (the build imports every policy key the same way, so this is a secret or a runtime surprise).
   */
  async get(signer: CompiledSigner, env: Bindings): Promise<Outcome<CryptoKey>> {
    try {
      if (signer.secretName !== null) {
        const secret = namedSecret(env, signer.secretName)
        const bytes = secret === null ? null : base64Bytes(secret)
        if (secret === null || bytes === null)
          return unavailable(`Worker secret ${signer.secretName} is not set or not base64`)
        // A short key can be guessed offline from one signature: it verifies nothing (RFC 7518 §3.2).
        if (bytes.length < MIN_HMAC_KEY_BYTES)
          return unavailable(`Worker secret ${signer.secretName} is shorter than ${MIN_HMAC_KEY_BYTES} bytes`)
        return ok(await this.#keys.get(signer.name, secret, () => importHmacKey(bytes)))
      }
      const algorithm = signer.algorithm as Exclude<SignatureAlgorithm, 'hmac-sha256'>
      return ok(await this.#keys.get(signer.name, '', () => importPublicKey(algorithm, signer.jwk as never)))
    } catch (error) {
      return unavailable(
        `the key of signer ${signer.name} does not import (${error instanceof Error ? error.name : 'error'})`,
      )
    }
  }
}

function base64Bytes(text: string): Uint8Array | null {
  try {
    const bytes = new Uint8Array(base64ToArrayBuffer(text.trim()))
    return bytes.length > 0 ? bytes : null
  } catch {
    return null
  }
}
