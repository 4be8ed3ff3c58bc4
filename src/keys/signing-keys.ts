/**
 * The gateway's signing keys, from the `INVOKER_SIGNING_KEYS` Worker secret: a JWK set whose
 * first key signs and whose asymmetric keys are all published, so a backend keeps verifying
 * tokens signed by the previous key while caches roll over.
 *
 * Imported once per isolate and secret value (importing is the expensive part of signing).
 *
 * @module
 */
import { base64url, importJWK, type JWK } from 'jose'
import { MIN_HMAC_KEY_BYTES } from '../constants.ts'
import { hasShape, PRIVATE_MEMBERS, SIGNING_KEY_SHAPES } from './jwk-shapes.ts'

export type SigningAlgorithm = keyof typeof SIGNING_KEY_SHAPES

export interface SigningKeySet {
  signer: { key: CryptoKey; kid: string; alg: SigningAlgorithm }
  /** Public JWKs of every asymmetric key in the set, for `/.well-known/jwks.json`. */
  publicJwks: JWK[]
  /** Keys the anonymous invoker id (`anon:` + HMAC of the client address). */
  anonymousIdKey: CryptoKey
}

export type LoadedKeys = { ok: true; keys: SigningKeySet } | { ok: false; problem: string }

let cached: { secret: string; loaded: Promise<LoadedKeys> } | null = null

export function loadSigningKeys(secret: string | undefined): Promise<LoadedKeys> {
  if (!secret) return Promise.resolve({ ok: false, problem: 'the INVOKER_SIGNING_KEYS secret is not set' })
  if (cached?.secret !== secret) cached = { secret, loaded: importKeySet(secret) }
  return cached.loaded
}

async function importKeySet(secret: string): Promise<LoadedKeys> {
  let set: { keys?: unknown }
  try {
    set = JSON.parse(secret) as { keys?: unknown }
  } catch {
    return { ok: false, problem: 'INVOKER_SIGNING_KEYS is not JSON' }
  }
  if (!Array.isArray(set.keys) || set.keys.length === 0)
    return { ok: false, problem: 'INVOKER_SIGNING_KEYS has no keys' }
  const jwks = set.keys as JWK[]
  const publicJwks: JWK[] = []
  for (const jwk of jwks) {
    const problem = checkJwk(jwk)
    if (problem) return { ok: false, problem }
    if (jwk.kty === 'oct') continue
    const pub: JWK = { ...jwk, use: 'sig' }
    for (const member of PRIVATE_MEMBERS) delete (pub as Record<string, unknown>)[member]
    delete pub.key_ops
    publicJwks.push(pub)
  }
  const first = jwks[0] as JWK & { kid: string; alg: SigningAlgorithm }
  const secretMaterial = first.kty === 'oct' ? first.k : first.d
  if (!secretMaterial) return { ok: false, problem: 'the first key in INVOKER_SIGNING_KEYS has no private part' }
  try {
    const key = await importSigningKey(first)
    const anonymousIdKey = await deriveAnonymousIdKey(secretMaterial)
    return { ok: true, keys: { signer: { key, kid: first.kid, alg: first.alg }, publicJwks, anonymousIdKey } }
  } catch {
    return { ok: false, problem: 'the first key in INVOKER_SIGNING_KEYS could not be imported' }
  }
}

/**
 * jose's `importJWK` gives an HS256 (`oct`) key as raw bytes, which `sign` would import again on
 * every request; an HMAC CryptoKey is imported once here instead, like the asymmetric keys.
 */
async function importSigningKey(jwk: JWK & { alg: SigningAlgorithm }): Promise<CryptoKey> {
  const key = await importJWK(jwk, jwk.alg)
  if (!(key instanceof Uint8Array)) return key
  return crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ])
}

/** The bytes of an `oct` key, or `null` when its `k` is not base64url (the import refuses it then). */
function octKeyLength(k: string): number | null {
  try {
    return base64url.decode(k).length
  } catch {
    return null
  }
}

function checkJwk(jwk: JWK): string | null {
  if (typeof jwk !== 'object' || jwk === null) return 'a key in INVOKER_SIGNING_KEYS is not an object'
  if (!jwk.kid) return 'every key in INVOKER_SIGNING_KEYS needs a kid'
  const alg = jwk.alg ?? ''
  if (!Object.hasOwn(SIGNING_KEY_SHAPES, alg)) return `key ${jwk.kid}: alg must be EdDSA, ES256 or HS256`
  if (!hasShape(jwk, SIGNING_KEY_SHAPES[alg as SigningAlgorithm]))
    return `key ${jwk.kid}: its type does not fit alg ${jwk.alg}`
  // RFC 7518 §3.2: an HS256 key at least as long as the hash. The anonymous ids' key is derived
  // from it too, so a short one would also make them guessable from an address.
  if (alg === 'HS256' && (octKeyLength(jwk.k as string) ?? 0) < MIN_HMAC_KEY_BYTES)
    return `key ${jwk.kid}: an HS256 key is at least ${MIN_HMAC_KEY_BYTES} bytes`
  return null
}

/**
 * HKDF from the signing key's private part, so no second secret is needed. Anonymous ids
 * therefore change when the signing key rotates; they are per-origin handles, not accounts.
 */
async function deriveAnonymousIdKey(material: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(material), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: new Uint8Array(0),
      info: new TextEncoder().encode('invoker-gateway anonymous id'),
    },
    base,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign'],
  )
}
