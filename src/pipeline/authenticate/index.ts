/**
 * Step 2: who is calling. Credentials are found once; exactly one is verified by its method;
 * a presented credential that fails is a 401 and never falls back to another method or to
 * anonymous (SPEC §3). No credential → anonymous where the pack allows it, else 401.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono'
import type { Bindings, GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { loadSigningKeys } from '../../keys/signing-keys.ts'
import type { CompiledPack, CompiledPolicy } from '../../policy/types.ts'
import { anonymousInvoker, clientAddress } from './anonymous.ts'
import { callStore, storeFor } from '../../store/index.ts'
import { buildKeyIndex, indexEntry, verifyApiKey, type KeyIndexEntry } from './api-key.ts'
import { findCredentials, type Credential } from './credentials.ts'
import type { AuthnResult } from './result.ts'

export const authenticate = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> => {
  const keyIndex = buildKeyIndex(policy.apiKeys)
  const { storeTimeoutMs } = policy.gateway

  /**
   * Keys minted at runtime live in the store and are read on every use, never cached, so a
   * revocation holds from the next request on. A store that cannot answer is a 503: a key it
   * might hold can be neither admitted nor called unknown.
   */
  async function mintedEntry(env: Bindings, keyId: string): Promise<KeyIndexEntry | null> {
    const store = storeFor(env)
    if (store === null) return null
    const record = await callStore(() => store.mintedKey(keyId), storeTimeoutMs)
    return record === null ? null : indexEntry(record)
  }

  async function verify(credential: Credential, pack: CompiledPack, env: Bindings): Promise<AuthnResult> {
    const accepted = pack.auth
    switch (credential.method) {
      case 'api_key':
        if (!accepted.includes('api_key')) return { kind: 'reject', reason: { reason: 'method_not_accepted', method: 'api_key', accepted } }
        return verifyApiKey(credential.key, pack, (keyId) => keyIndex.get(keyId) ?? mintedEntry(env, keyId), Math.floor(Date.now() / 1000))
      case 'bearer':
        // No issuer can verify a bearer token in this version; refusing it is the only safe answer.
        return { kind: 'reject', reason: { reason: 'method_not_accepted', method: 'bearer', accepted } }
      case 'unknown_scheme':
        return { kind: 'reject', reason: { reason: 'method_not_accepted', method: 'unknown_scheme', accepted } }
    }
  }

  return async function authenticate(c, next) {
    const { pack } = c.get('route')
    const accepted = pack.auth
    const presented = findCredentials(c.req.raw.headers)
    switch (presented.kind) {
      case 'too_large':
        throw new GatewayError({ reason: 'credential_too_large', accepted })
      case 'ambiguous':
        throw new GatewayError({ reason: 'credential_ambiguous', accepted })
      case 'one': {
        const result = await verify(presented.credential, pack, c.env)
        if (result.kind === 'reject') throw new GatewayError(result.reason)
        c.set('authentication', result.authentication)
        c.set('consumedHeaders', [presented.credential.header])
        break
      }
      case 'none': {
        if (!pack.anonymous) throw new GatewayError({ reason: 'credential_missing', accepted })
        const address = clientAddress(c.req.raw.headers)
        if (address === null) throw new GatewayError({ reason: 'no_client_address', accepted })
        const keys = await loadSigningKeys(c.env.INVOKER_SIGNING_KEYS)
        if (!keys.ok) throw new GatewayError({ reason: 'signing_keys_unavailable', problem: keys.problem })
        c.set('authentication', await anonymousInvoker(address, keys.keys.anonymousIdKey))
        c.set('consumedHeaders', [])
        break
      }
    }
    await next()
  }
}
