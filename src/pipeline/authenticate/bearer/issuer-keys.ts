/**
 * Where an issuer's verification keys come from: a JWKS URL (jose's remote set: cached in the
 * isolate, refetched after `max_age`, at most one refetch per `cooldown` for an unknown `kid`),
 * inline public JWKs, or a shared HMAC secret from a Worker secret. Only these keys ever verify
 * the issuer's tokens: a token's own `jku`, `x5u` or `jwk` header is never looked at.
 *
 * @module
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose'
import { MAX_FETCHED_ANSWER_BYTES } from '../../../constants.ts'
import { namedSecret, type Bindings } from '../../../env.ts'
import { isJsonObject, OWN_FETCH_CACHE, readLimited } from '../fetch-json.ts'
import type { CompiledIssuer, IssuerKeys } from '../../../policy/types.ts'

/** A key resolver as jose's sets are: a header in, a key out, without needing the token. */
type KeySet = (protectedHeader: JWSHeaderParameters, token?: FlattenedJWSInput) => Promise<CryptoKey>

/** Last good keys in use while the endpoint fails: since when they are that old, and why. */
export interface Staleness {
  since: number
  problem: string
}

export type IssuerKeySource =
  | {
      kind: 'set'
      getKey: KeySet
      /** Set while the JWKS endpoint's last refresh failed and its last good keys verify tokens (never for inline keys). */
      staleness(): Staleness | null
    }
  | { kind: 'secret'; secretName: string }

/** The JWKS endpoint failed and no last good keys were left to use, or a key does not import. */
export class KeySourceUnavailable extends Error {
  override readonly name = 'KeySourceUnavailable'
}

/**
 * jose's remote set forgets its keys when a refresh fails. This fetch keeps the last good JWKS
 * and serves it again while the endpoint fails (an error, a non-200, a timeout), but only for
 * `staleMs` after it was last fetched: an outage at the IdP does not lock out valid tokens, and
 * keys the IdP has withdrawn do not live on for ever.
 *
 * jose limits refetches only after a success (its cooldown counts from the last good fetch), so
 * with no good keys every token would fetch a failing endpoint again. A failure is therefore
 * remembered for `cooldownMs`, the same limit an unknown `kid` meets: until it passes, the
 * endpoint is not asked and the answer is the failure again (or the last good keys).
 *
 * jose takes the last good copy as a fresh answer and starts its `max_age` again from it, so it
 * would not ask again (and keep verifying with that copy) for up to `max_age` past `stale`.
 * `pastStale()` says when the copy jose holds is older than `staleMs` while the endpoint fails;
 * the key set then makes jose reload before it answers (see {@link keySource}).
 */
export function staleOnErrorFetch(
  staleMs: number,
  cooldownMs = 0,
  now: () => number = Date.now,
): { fetch: typeof fetch; staleness(): Staleness | null; pastStale(): boolean } {
  let lastGood: { body: string; at: number } | null = null
  let lastFailure: { problem: string; at: number } | null = null
  // README: "at `stale` they stop working".
  const usable = (good: { at: number }): boolean => now() - good.at < staleMs
  const stale = (problem: string, cause?: unknown): Response => {
    if (lastGood !== null && usable(lastGood)) {
      return new Response(lastGood.body, { status: 200, headers: { 'content-type': 'application/json' } })
    }
    throw new KeySourceUnavailable(problem, { cause })
  }
  const failed = (problem: string, cause?: unknown): Response => {
    lastFailure = { problem, at: now() }
    return stale(problem, cause)
  }
  const staleFetch: typeof fetch = async (input, init) => {
    if (lastFailure !== null && now() - lastFailure.at < cooldownMs) return stale(lastFailure.problem)
    let response: Response
    try {
      response = await fetch(input, { ...init, cache: OWN_FETCH_CACHE })
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError'
      return failed(timedOut ? 'JWKS endpoint timed out' : 'JWKS endpoint failed', error)
    }
    if (response.status !== 200) {
      await response.body?.cancel()
      return failed(`JWKS endpoint answered ${response.status}`)
    }
    let body: string | null
    try {
      body = await readLimited(response, MAX_FETCHED_ANSWER_BYTES)
    } catch (error) {
      return failed('JWKS endpoint failed while answering', error)
    }
    if (body === null) return failed(`JWKS endpoint answered more than ${MAX_FETCHED_ANSWER_BYTES} bytes`)
    if (!isKeySet(body)) return failed('JWKS endpoint sent no valid key set')
    lastGood = { body, at: now() }
    lastFailure = null
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
  }
  return {
    fetch: staleFetch,
    // jose keeps whatever this fetch answered, so its keys are the last good copy until a refresh succeeds.
    staleness: () =>
      lastFailure !== null && lastGood !== null ? { since: lastGood.at, problem: lastFailure.problem } : null,
    pastStale: () => lastFailure !== null && lastGood !== null && !usable(lastGood),
  }
}

/**
 * A key the issuer publishes (or the policy holds inline) that WebCrypto refuses to import is
 * the operator's or the issuer's problem, not the caller's: the token can be neither admitted
 * nor called invalid, so it is "unavailable" (503, and the log says which). jose's own answers
 * (no key for this `kid`, a JWKS that failed) pass through unchanged; jose never caches a failed
 * import, so a fixed key works from the next request on.
 */
function importFailuresUnavailable(set: KeySet, issuer: string): KeySet {
  return async (protectedHeader, token) => {
    try {
      return await set(protectedHeader, token)
    } catch (error) {
      if (error instanceof KeySourceUnavailable) throw error
      if (error instanceof errors.JOSEError && !(error instanceof errors.JOSENotSupported)) throw error
      const what = error instanceof Error ? error.name : 'error'
      throw new KeySourceUnavailable(`a key of issuer ${issuer} does not import (${what})`, { cause: error })
    }
  }
}

/**
 * A body jose's remote set takes (jose `isJwkSet`: an object whose `keys` are all objects), each
 * key with the `kty` RFC 7517 §4.1 requires (a string). Anything else is a failed fetch, checked
 * here rather than left to jose: jose throws on it without starting its cooldown, so every token
 * would fetch the endpoint again, and the body would become the "last good" copy (rt9 F6).
 */
function isKeySet(body: string): boolean {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return false
  }
  if (!isJsonObject(parsed)) return false
  const keys = parsed['keys']
  return Array.isArray(keys) && keys.every((key: unknown) => isJsonObject(key) && typeof key['kty'] === 'string')
}

const NEVER_STALE = (): null => null

function keySource(keys: IssuerKeys, issuer: string): IssuerKeySource {
  switch (keys.source) {
    case 'jwks_uri': {
      const stale = staleOnErrorFetch(keys.staleMs, keys.cooldownMs)
      const remote = createRemoteJWKSet(new URL(keys.url), {
        cacheMaxAge: keys.maxAgeMs,
        cooldownDuration: keys.cooldownMs,
        timeoutDuration: keys.timeoutMs,
        [customFetch]: stale.fetch,
      })
      // Keys older than `stale` while the endpoint fails are not used, whatever jose's own cache
      // thinks: jose is made to reload, which asks the endpoint (once per cooldown) and either
      // gets new keys or fails as unavailable (503).
      const bounded: KeySet = async (protectedHeader, token) => {
        if (stale.pastStale()) await remote.reload()
        return remote(protectedHeader, token)
      }
      return { kind: 'set', getKey: importFailuresUnavailable(bounded, issuer), staleness: stale.staleness }
    }
    case 'jwks':
      return {
        kind: 'set',
        getKey: importFailuresUnavailable(createLocalJWKSet(keys.jwks as unknown as JSONWebKeySet), issuer),
        staleness: NEVER_STALE,
      }
    case 'secret':
      return { kind: 'secret', secretName: keys.secretName }
  }
}

/** Built once per gateway, so the remote sets (and their caches) live as long as the isolate. */
export function issuerKeySources(issuers: Record<string, CompiledIssuer>): Map<string, IssuerKeySource> {
  const out = new Map<string, IssuerKeySource>()
  for (const issuer of Object.values(issuers))
    if (issuer.keys !== null) out.set(issuer.name, keySource(issuer.keys, issuer.name))
  return out
}

const encoder = new TextEncoder()

/** The HMAC key of a Worker secret; `null` when the secret is unset. */
export function sharedSecret(env: Bindings, name: string): Uint8Array | null {
  const value = namedSecret(env, name)
  return value === null ? null : encoder.encode(value)
}
