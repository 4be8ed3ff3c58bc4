/**
 * The gateway's JWKS fetched over HTTP and cached, by hand rather than by jose's remote set,
 * because jose's counts its cooldown from the last good fetch only and forgets its keys when a
 * refresh fails: a failing endpoint would be fetched again for every token with a made-up `kid`,
 * and every token would get `keys_unavailable` once `maxAge` passed. The rules (the same as the
 * Python package's `JWKSCache`, and as the gateway's own `staleOnErrorFetch` for its issuers):
 *
 * - the keys are fresh for `maxAge` after a good fetch; then a refresh is due;
 * - fetches are spaced by `cooldown`, counted from the last attempt, good or failed: an unknown
 *   `kid` or a due refresh within it costs no fetch;
 * - at most one fetch at a time: while one is under way, a token whose key is in the keys held
 *   is verified with them at once; one with an unknown `kid` is refused at once (`key_unknown`);
 *   only when no keys can be used does a token wait for that fetch;
 * - stale-on-error: when refreshes fail, the last good keys keep verifying until `stale` after
 *   they were fetched (never longer: a key the gateway withdrew must stop working), then
 *   `keys_unavailable` until a fetch succeeds.
 *
 * Key selection and import stay jose's (`createLocalJWKSet` on each good answer).
 *
 * @module
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { InvokerVerificationError } from './reasons.ts'

export interface RemoteJwksSettings {
  maxAgeMs: number
  cooldownMs: number
  timeoutMs: number
  staleMs: number
}

type Header = { alg: string; kid: string }
type Select = (set: JWTVerifyGetKey, header: Header) => Promise<CryptoKey[]>

export class RemoteJwks {
  readonly #url: string
  readonly #settings: RemoteJwksSettings
  readonly #select: Select
  readonly #now: () => number
  /** The last good answer, made a key set, and when it was fetched. */
  #good: { set: JWTVerifyGetKey; at: number } | null = null
  #attemptedAt: number | null = null
  #pending: Promise<void> | null = null

  /** @param now milliseconds (tests pass their own clock). */
  constructor(url: URL, settings: RemoteJwksSettings, select: Select, now: () => number = Date.now) {
    this.#url = url.href
    this.#settings = settings
    this.#select = select
    this.#now = now
  }

  /** The candidate keys for a token header, or `key_unknown` / `keys_unavailable`. */
  async keys(header: Header): Promise<CryptoKey[]> {
    const good = this.#good
    if (good === null || this.#now() - good.at >= this.#settings.maxAgeMs) {
      const attempt = this.#refresh()
      // Wait only when there is nothing else to verify with (or for this caller's own fetch).
      if (attempt !== null && (attempt.own || this.#usable() === null)) await attempt.done
    }
    const usable = this.#usable()
    if (usable === null) throw new InvokerVerificationError('keys_unavailable')
    try {
      return await this.#select(usable, header)
    } catch (error) {
      if (!(error instanceof InvokerVerificationError) || error.reason !== 'key_unknown') throw error
      // A key rotated in since the last fetch: refetch, unless within the cooldown or under way.
      const attempt = this.#refresh()
      if (attempt === null || !attempt.own) throw error
      await attempt.done
      const after = this.#usable()
      if (after === null) throw new InvokerVerificationError('keys_unavailable')
      return this.#select(after, header)
    }
  }

  /** The keys a token may be verified with now: the last good ones, up to `stale` old. */
  #usable(): JWTVerifyGetKey | null {
    const good = this.#good
    if (good === null) return null
    const age = this.#now() - good.at
    return age < this.#settings.maxAgeMs || age <= this.#settings.staleMs ? good.set : null
  }

  /**
   * Starts a fetch unless one is under way (then that one is returned, `own: false`) or the last
   * attempt is within the cooldown (`null`). The returned promise never rejects: a failure is
   * remembered (the attempt time), and the last good keys stay.
   */
  #refresh(): { done: Promise<void>; own: boolean } | null {
    if (this.#pending !== null) return { done: this.#pending, own: false }
    const now = this.#now()
    if (this.#attemptedAt !== null && now - this.#attemptedAt < this.#settings.cooldownMs) return null
    this.#attemptedAt = now
    const done = fetchKeySet(this.#url, this.#settings.timeoutMs).then(
      (set) => {
        this.#good = { set, at: this.#now() }
      },
      () => undefined,
    )
    this.#pending = done.finally(() => {
      this.#pending = null
    })
    return { done: this.#pending, own: true }
  }
}

/**
 * One GET of the JWKS, as jose's remote set makes it: redirects not followed (the answer must
 * come from the configured URL), 200 only, the whole exchange within `timeoutMs`, a JWK set or
 * a failure.
 */
async function fetchKeySet(url: string, timeoutMs: number): Promise<JWTVerifyGetKey> {
  const response = await fetch(url, {
    headers: { accept: 'application/json, application/jwk-set+json' },
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new Error(`the JWKS endpoint answered ${response.status}`)
  }
  // createLocalJWKSet refuses what is not a JWK set.
  return createLocalJWKSet((await response.json()) as JSONWebKeySet)
}
