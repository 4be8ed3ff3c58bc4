/**
 * Web Bot Auth key directories: a signer names its directory in `Signature-Agent`, the
 * directory (`/.well-known/http-message-signatures-directory`) lists its public keys, and the
 * `keyid` of a signature is the JWK thumbprint (RFC 7638) of one of them. Only directories the
 * policy trusts are ever fetched; each is cached, refetched at most every `REFETCH_MS` for an
 * unknown key id, and its last good copy is used while it cannot be fetched, up to
 * `directory_stale` after that copy was fetched (as an issuer's JWKS `stale`): a key removed from
 * a directory that stays unreachable does not stay trusted for ever. A failed fetch
 * counts against the same limit: a directory that is down is asked again only `REFETCH_MS`
 * later, not on every request that names it (until then the answer is its last good copy, or
 * "unavailable"). One fetch per directory at a time: requests that arrive while it runs and need
 * its answer join it (with a timer of their own: on Workers a request that waits only on another
 * request's I/O is cancelled as hung), the others answer from the copy they have.
 *
 * @module
 */
import { calculateJwkThumbprint, type JWK } from 'jose'
import { ok, refused, unavailable, type Outcome } from '../../../outcome.ts'
import type { EnvelopeSettings, SignatureAlgorithm } from '../../../policy/types.ts'
import { fetchJson, isJsonObject } from '../fetch-json.ts'
import { algorithmOfJwk } from './algorithm-table.ts'
import { importPublicKey } from './public-key.ts'

export const DIRECTORY_PATH = '/.well-known/http-message-signatures-directory'

/** Least time between two fetches of one directory for a key id it did not list, or after a failure. */
const REFETCH_MS = 30_000
/** A directory larger than this is not a key directory. */
const MAX_DIRECTORY_KEYS = 64

interface DirectoryKey {
  algorithm: SignatureAlgorithm
  key: CryptoKey
}

interface Fetched {
  keys: Map<string, DirectoryKey>
  at: number
}

/** One directory: its last good copy, its last failure (what it was, and when), the fetch under way. */
interface DirectoryState {
  fetched: Fetched | null
  failed: { problem: string; at: number } | null
  running: Promise<void> | null
}

/** How much longer than a fetch's own timeout a request that joined it waits. */
const JOIN_GRACE_MS = 250

/** Set when the directory's last refresh failed and its last good copy answered: since when that copy is, and why. */
export interface StaleCopy {
  since: number
  problem: string
}

/** The key, or a refusal (the directory does not list it); either says whether the copy is stale. */
export type DirectoryLookup = Outcome<
  { algorithm: SignatureAlgorithm; key: CryptoKey; stale: StaleCopy | null },
  { stale: StaleCopy | null }
>

export class KeyDirectories {
  /** By origin; only origins under `key_directories` ever get here, so policy bounds its size. */
  readonly #cache = new Map<string, DirectoryState>()
  readonly #settings: EnvelopeSettings

  constructor(settings: EnvelopeSettings) {
    this.#settings = settings
  }

  async lookup(origin: string, keyId: string): Promise<DirectoryLookup> {
    const now = Date.now()
    let state = this.#cache.get(origin)
    if (state === undefined) {
      state = { fetched: null, failed: null, running: null }
      this.#cache.set(origin, state)
    }
    const { fetched, failed } = state
    const fresh = fetched !== null && now - fetched.at < this.#settings.directoryCacheMs
    const wanted = fetched === null || !fresh || (!fetched.keys.has(keyId) && now - fetched.at >= REFETCH_MS)
    const coolingDown = failed !== null && now - failed.at < REFETCH_MS
    if (state.running !== null) {
      // A fetch is under way: joined only by a request whose answer depends on it.
      if (fetched === null || !fetched.keys.has(keyId)) {
        const timeoutMs = this.#settings.directoryTimeoutMs + JOIN_GRACE_MS
        if (!(await finishedWithin(state.running, timeoutMs)))
          return unavailable(`key directory fetch did not finish within ${timeoutMs} ms`)
      }
    } else if (wanted && !coolingDown) {
      const current = state
      current.running = this.#fetch(origin).then(
        (next) => {
          if (typeof next === 'string') current.failed = { problem: next, at: Date.now() }
          else {
            current.fetched = next
            current.failed = null
          }
          current.running = null
        },
        (error: unknown) => {
          current.failed = { problem: `key directory fetch failed: ${String(error)}`, at: Date.now() }
          current.running = null
        },
      )
      await current.running
    }
    if (state.fetched === null) return unavailable(state.failed?.problem ?? 'key directory not fetched')
    const stale = this.staleness(origin)
    if (stale !== null && Date.now() - stale.since >= this.#settings.directoryStaleMs)
      return unavailable(`${stale.problem}; its last good copy is older than directory_stale`)
    const entry = state.fetched.keys.get(keyId)
    return entry === undefined ? refused({ stale }) : ok({ algorithm: entry.algorithm, key: entry.key, stale })
  }

  /** Set while the directory's last refresh failed and a last good copy is held: its age, and why. */
  staleness(origin: string): StaleCopy | null {
    const state = this.#cache.get(origin)
    if (state?.fetched == null || state.failed === null) return null
    return { since: state.fetched.at, problem: state.failed.problem }
  }

  async #fetch(origin: string): Promise<Fetched | string> {
    const answered = await fetchJson(
      'key directory',
      origin + DIRECTORY_PATH,
      { headers: { accept: 'application/http-message-signatures-directory+json, application/json' } },
      this.#settings.directoryTimeoutMs,
    )
    if (answered.kind !== 'ok') return answered.kind === 'refused' ? answered.refusal.problem : answered.problem
    const list = isJsonObject(answered.value) ? answered.value['keys'] : undefined
    if (!Array.isArray(list) || list.length > MAX_DIRECTORY_KEYS) return 'key directory has no key list'
    // Keys are imported here, once per fetch: only keys that imported are kept, so a failed
    // import is never cached (it is simply not in the directory as far as the gateway goes).
    const imported = await Promise.all(
      list.map(async (item: unknown): Promise<[string, DirectoryKey] | null> => {
        if (typeof item !== 'object' || item === null) return null
        const jwk = item as JWK
        const algorithm = algorithmOfJwk(jwk)
        if (algorithm === null || algorithm === 'hmac-sha256') return null
        try {
          return [
            await calculateJwkThumbprint(jwk, 'sha256'),
            { algorithm, key: await importPublicKey(algorithm, jwk) },
          ]
        } catch {
          return null // a malformed entry, or one that does not import, is skipped; the others still count
        }
      }),
    )
    return { keys: new Map(imported.filter((entry) => entry !== null)), at: Date.now() }
  }
}

/** Whether `work` settled within `ms` (a timer of the caller's own request). */
function finishedWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  return Promise.race([work.then(() => true), deadline]).finally(() => {
    if (timer !== undefined) clearTimeout(timer)
  })
}
