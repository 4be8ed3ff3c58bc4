/**
 * Where verification keys come from: the gateway's JWKS URL (jose's remote set: cached, refetched
 * after `maxAge`, refetched for an unknown `kid` at most once per `cooldown`), a JWK set given
 * inline, or the shared secret of an HS256 gateway key. Each source is made once and answers
 * with the candidate keys for one token header.
 *
 * @module
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { InvokerVerificationError } from './reasons.ts'

export type KeySource = (header: { alg: string; kid: string }) => Promise<CryptoKey[]>

export interface JwksCacheOptions {
  /** Refetch the JWKS after this many ms (default 600,000). */
  maxAgeMs?: number
  /** Refetch for an unknown `kid` at most this often, in ms (default 30,000). */
  cooldownMs?: number
  /** Give up a fetch after this many ms (default 5,000). */
  timeoutMs?: number
}

const remoteSets = new Map<string, KeySource>()

/**
 * One remote set per URL and settings for the whole process, so that `verifyInvoker()` called
 * with a fresh options object on every request still fetches the JWKS once.
 */
export function remoteKeys(url: URL, cache: Required<JwksCacheOptions>): KeySource {
  const id = `${url.href} ${cache.maxAgeMs} ${cache.cooldownMs} ${cache.timeoutMs}`
  let source = remoteSets.get(id)
  if (!source) {
    const set = createRemoteJWKSet(url, {
      cacheMaxAge: cache.maxAgeMs,
      cooldownDuration: cache.cooldownMs,
      timeoutDuration: cache.timeoutMs,
    })
    source = fromJoseSet(set)
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
  return async (header) => {
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
      // A fetch that failed, timed out, answered other than 200, or a set that is not one.
      throw new InvokerVerificationError('keys_unavailable', { cause: error })
    }
  }
}
