/**
 * Anonymous invokers (SPEC §2): the id is `anon:` + a keyed hash of the client address's key
 * (http/client-address.ts: an IPv4 address, an IPv6 address's /64, whatever its spelling), so
 * two anonymous callers (two /64s) never share one identity or one rate limit, one caller does not
 * get many, and the address itself never reaches the backend through the id. There is no
 * fallback identity: without an address there is no anonymous invoker.
 *
 * @module
 */
import { base64url } from 'jose'
import { ANONYMOUS_ID_HASH_CHARS } from '../../constants.ts'
import type { Authentication } from '../../invoker.ts'

export async function anonymousInvoker(addressKey: string, key: CryptoKey): Promise<Authentication> {
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(addressKey)))
  return {
    invoker: { id: 'anon:' + base64url.encode(mac).slice(0, ANONYMOUS_ID_HASH_CHARS), kind: 'anonymous', meta: {} },
    auth: { method: 'anonymous' },
  }
}
