import type { Handler } from 'hono'
import { JWKS_CACHE_MAX_AGE_S } from '../../constants.ts'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { loadSigningKeys } from '../../keys/signing-keys.ts'

/** `GET /.well-known/jwks.json`: the public keys backends verify X-Invoker with. */
export const jwksRoute: Handler<GatewayEnv> = async function jwksRoute(c) {
  const keys = await loadSigningKeys(c.env.INVOKER_SIGNING_KEYS)
  if (!keys.ok) throw new GatewayError({ reason: 'signing_keys_unavailable', problem: keys.problem })
  return c.json({ keys: keys.keys.publicJwks }, 200, {
    'cache-control': `public, max-age=${JWKS_CACHE_MAX_AGE_S}`,
    'x-request-id': c.get('requestId'),
  })
}
