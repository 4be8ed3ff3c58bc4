/**
 * Where verification keys come from: the gateway's JWKS URL (cached, refetched after `maxAge`,
 * fetched at most once per `cooldown`, the last good keys kept up to `stale` while the endpoint
 * fails: see jwks.ts), a JWK set given inline, or the shared secret of an HS256 gateway key. Each
 * source is made once and answers with the candidate keys for one token header.
 *
 * @module
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { RemoteJwks } from './jwks.ts'
import { InvokerVerificationError } from './reasons.ts'

export type KeySource = (header: { alg: string; kid: string }) => Promise<CryptoKey[]>

export interface JwksCacheOptions {
  /** Refetch the JWKS after this many ms (default 600,000). */
  maxAgeMs?: number
  /**
   * Fetch at most this often, in ms, counted from the last attempt, good or failed (default
   * 30,000): an unknown `kid`, or a refresh while the endpoint fails, waits for it.
   */
  cooldownMs?: number
  /** Give up a fetch after this many ms (default 5,000). */
  timeoutMs?: number
  /**
   * While refreshes fail, keep verifying with the last good keys until they are this old, in ms
   * (default 3,600,000; never less than `maxAgeMs`).
   */
  staleMs?: number
}

const remoteSets = new Map<string, KeySource>()

/**
 * One remote set per URL and settings for the whole process, so that `verifyInvoker()` called
 * with a fresh options object on every request still fetches the JWKS once.
 */
export function remoteKeys(url: URL, cache: Required<JwksCacheOptions>): KeySource {
  const id = `${url.href} ${cache.maxAgeMs} ${cache.cooldownMs} ${cache.timeoutMs} ${cache.staleMs}`
  let source = remoteSets.get(id)
  if (!source) {
    const remote = new RemoteJwks(url, cache, selectKeys)
    source = (header) => remote.keys(header)
    remoteSets.set(id, source)
  }
  return source
}

export function localKeys(jwks: JSONWebKeySet): KeySource {
  return fromJoseSet(createLocalJWKSet(jwks))
}

const secretKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>()

/** The HMAC key is imported once per secret (jose would import raw bytes on every call). */
export function secretKey(secret: Uint8Array): KeySource {
  let key = secretKeys.get(secret)
  if (!key) {
    key = crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ])
    secretKeys.set(secret, key)
  }
  const imported = key
  return async () => [await imported]
}

function fromJoseSet(set: JWTVerifyGetKey): KeySource {
  return (header) => selectKeys(set, header)
}

/** The keys of a jose key set that fit the header: jose chooses and imports them. */
export async function selectKeys(set: JWTVerifyGetKey, header: { alg: string; kid: string }): Promise<CryptoKey[]> {
  try {
    return [(await set(header, undefined as never)) as CryptoKey]
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey) throw new InvokerVerificationError('key_unknown', { cause: error })
    // Two keys share the kid (never in a set the gateway publishes): try each, as jose intends.
    if (error instanceof errors.JWKSMultipleMatchingKeys) {
      const keys: CryptoKey[] = []
      for await (const key of error as unknown as AsyncIterable<CryptoKey>) keys.push(key)
      if (keys.length > 0) return keys
    }
    // A key that does not import, or a set that is not one.
    throw new InvokerVerificationError('keys_unavailable', { cause: error })
  }
}
