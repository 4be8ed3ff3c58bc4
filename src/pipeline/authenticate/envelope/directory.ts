/**
 * Web Bot Auth key directories: a signer names its directory in `Signature-Agent`, the
 * directory (`/.well-known/http-message-signatures-directory`) lists its public keys, and the
 * `keyid` of a signature is the JWK thumbprint (RFC 7638) of one of them. Only directories the
 * policy trusts are ever fetched; each is cached, refetched at most every `REFETCH_MS` for an
 * unknown key id, and its last good copy is used while it cannot be fetched.
 *
 * @module
 */
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { EnvelopeSettings, SignatureAlgorithm } from '../../../policy/types.ts'
import { fetchJson, isJsonObject } from '../fetch-json.ts'
import { algorithmOfJwk, importPublicKey } from './algorithms.ts'

export const DIRECTORY_PATH = '/.well-known/http-message-signatures-directory'

/** Least time between two fetches of one directory for a key id it did not list. */
const REFETCH_MS = 30_000
/** A directory larger than this is not a key directory. */
const MAX_DIRECTORY_KEYS = 64

interface DirectoryKey {
  algorithm: SignatureAlgorithm
  key: Promise<CryptoKey>
}

interface Fetched {
  keys: Map<string, DirectoryKey>
  at: number
}

export type DirectoryLookup = { ok: true; algorithm: SignatureAlgorithm; key: CryptoKey } | { ok: false; unknown: true } | { ok: false; unavailable: string }

export class KeyDirectories {
  readonly #cache = new Map<string, Fetched>()
  readonly #settings: EnvelopeSettings

  constructor(settings: EnvelopeSettings) {
    this.#settings = settings
  }

  async lookup(origin: string, keyId: string): Promise<DirectoryLookup> {
    const now = Date.now()
    let fetched = this.#cache.get(origin)
    const fresh = fetched !== undefined && now - fetched.at < this.#settings.directoryCacheMs
    if (fetched === undefined || !fresh || (!fetched.keys.has(keyId) && now - fetched.at >= REFETCH_MS)) {
      const next = await this.#fetch(origin)
      if (typeof next === 'string') {
        if (fetched === undefined) return { ok: false, unavailable: next }
      } else {
        fetched = next
        this.#cache.set(origin, next)
      }
    }
    const entry = fetched?.keys.get(keyId)
    if (entry === undefined) return { ok: false, unknown: true }
    try {
      return { ok: true, algorithm: entry.algorithm, key: await entry.key }
    } catch {
      return { ok: false, unknown: true }
    }
  }

  async #fetch(origin: string): Promise<Fetched | string> {
    const answered = await fetchJson(
      'key directory',
      origin + DIRECTORY_PATH,
      { headers: { accept: 'application/http-message-signatures-directory+json, application/json' } },
      this.#settings.directoryTimeoutMs,
    )
    if (!answered.ok) return answered.problem
    const list = isJsonObject(answered.json) ? answered.json['keys'] : undefined
    if (!Array.isArray(list) || list.length > MAX_DIRECTORY_KEYS) return 'key directory has no key list'
    const keys = new Map<string, DirectoryKey>()
    for (const item of list) {
      if (typeof item !== 'object' || item === null) continue
      const jwk = item as JWK
      const algorithm = algorithmOfJwk(jwk)
      if (algorithm === null || algorithm === 'hmac-sha256') continue
      try {
        const key = importPublicKey(algorithm, jwk)
        key.catch(() => undefined) // a key that fails to import is "unknown" when asked for
        keys.set(await calculateJwkThumbprint(jwk, 'sha256'), { algorithm, key })
      } catch {
        // A malformed entry is skipped; the others still count.
      }
    }
    return { keys, at: Date.now() }
  }
}
