/**
 * Signer keys, imported once per isolate. Only a key that imported is kept: a failed import
 * (a key the build could not check, a Worker secret that changed to something WebCrypto refuses)
 * is tried again on the next request rather than remembered, so the fix of a key takes effect at
 * once and a failure is never a permanent answer. Bounded by the policy: one entry per signer.
 *
 * @module
 */

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
