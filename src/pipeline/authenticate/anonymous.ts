/**
 * Anonymous invokers (SPEC §2): the id is `anon:` + a keyed hash of the client address, so two
 * anonymous callers never share one identity or one rate limit, and the address itself never
 * reaches the backend through the id. There is no fallback identity: without an address there
 * is no anonymous invoker.
 *
 * @module
 */
import { base64url } from 'jose'
import { ANONYMOUS_ID_HASH_CHARS } from '../../constants.ts'
import type { Authentication } from '../../invoker.ts'

export async function anonymousInvoker(address: string, key: CryptoKey): Promise<Authentication> {
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(address)))
  return {
    invoker: { id: 'anon:' + base64url.encode(mac).slice(0, ANONYMOUS_ID_HASH_CHARS), kind: 'anonymous', meta: {} },
    auth: { method: 'anonymous' },
  }
}
