/**
 * Where an issuer's verification keys come from: a JWKS URL (jose's remote set: cached in the
 * isolate, refetched after `max_age`, at most one refetch per `cooldown` for an unknown `kid`),
 * inline public JWKs, or a shared HMAC secret from a Worker secret. Only these keys ever verify
 * the issuer's tokens: a token's own `jku`, `x5u` or `jwk` header is never looked at.
 *
 * @module
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JSONWebKeySet } from 'jose'
import { namedSecret, type Bindings } from '../../../env.ts'
import type { CompiledIssuer, IssuerKeys } from '../../../policy/types.ts'

/** jose's key sets, remote or local: both resolve a header to a key without needing the token. */
type KeySet = ReturnType<typeof createRemoteJWKSet> | ReturnType<typeof createLocalJWKSet>

export type IssuerKeySource = { kind: 'set'; getKey: KeySet } | { kind: 'secret'; secretName: string }

/**
 * jose's remote set forgets its keys when a refresh fails. This fetch keeps the last good JWKS
 * and serves it again while the endpoint fails (an error, a non-200, a timeout), but only for
 * `staleMs` after it was last fetched: an outage at the IdP does not lock out valid tokens, and
 * keys the IdP has withdrawn do not live on for ever.
 */
/** The JWKS endpoint failed and no last good keys were left to use. */
export class KeySourceUnavailable extends Error {
  override readonly name = 'KeySourceUnavailable'
}

export function staleOnErrorFetch(staleMs: number, now: () => number = Date.now): typeof fetch {
  let lastGood: { body: string; at: number } | null = null
  const stale = (cause: unknown): Response => {
    if (lastGood !== null && now() - lastGood.at <= staleMs) {
      return new Response(lastGood.body, { status: 200, headers: { 'content-type': 'application/json' } })
    }
    const timedOut = cause instanceof Error && cause.name === 'TimeoutError'
    throw new KeySourceUnavailable(timedOut ? 'JWKS endpoint timed out' : 'JWKS endpoint failed', { cause })
  }
  return async (input, init) => {
    let response: Response
    try {
      response = await fetch(input, init)
    } catch (error) {
      return stale(error)
    }
    if (response.status !== 200) {
      await response.body?.cancel()
      return stale(new Error(`JWKS endpoint answered ${response.status}`))
    }
    const body = await response.text()
    if (!isKeySet(body)) return stale(new Error('JWKS endpoint sent no key set'))
    lastGood = { body, at: now() }
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
  }
}

function isKeySet(body: string): boolean {
  try {
    const parsed: unknown = JSON.parse(body)
    return typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { keys?: unknown }).keys)
  } catch {
    return false
  }
}

function keySource(keys: IssuerKeys): IssuerKeySource {
  switch (keys.source) {
    case 'jwks_uri':
      return {
        kind: 'set',
        getKey: createRemoteJWKSet(new URL(keys.url), {
          cacheMaxAge: keys.maxAgeMs,
          cooldownDuration: keys.cooldownMs,
          timeoutDuration: keys.timeoutMs,
          [customFetch]: staleOnErrorFetch(keys.staleMs),
        }),
      }
    case 'jwks':
      return { kind: 'set', getKey: createLocalJWKSet(keys.jwks as unknown as JSONWebKeySet) }
    case 'secret':
      return { kind: 'secret', secretName: keys.secretName }
  }
}

/** Built once per gateway, so the remote sets (and their caches) live as long as the isolate. */
export function issuerKeySources(issuers: Record<string, CompiledIssuer>): Map<string, IssuerKeySource> {
  const out = new Map<string, IssuerKeySource>()
  for (const issuer of Object.values(issuers)) if (issuer.keys !== null) out.set(issuer.name, keySource(issuer.keys))
  return out
}

const encoder = new TextEncoder()

/** The HMAC key of a Worker secret; `null` when the secret is unset. */
export function sharedSecret(env: Bindings, name: string): Uint8Array | null {
  const value = namedSecret(env, name)
  return value === null ? null : encoder.encode(value)
}
