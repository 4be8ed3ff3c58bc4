import { JWKS_CACHE_MAX_AGE_S } from '../../constants.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { publishedKeys } from '../../keys/published-keys.ts'
import { loadSigningKeys } from '../../keys/signing-keys.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import type { RequestState } from '../../state.ts'

/**
 * `GET /.well-known/jwks.json`: the public keys backends verify X-Invoker with, and the policy's
 * previous signing keys until their date (rotation without the old private key).
 */
export const jwksRoute = (policy: CompiledPolicy) =>
  async function jwksRoute(s: RequestState): Promise<Response> {
    const keys = await loadSigningKeys(s.env.INVOKER_SIGNING_KEYS)
    if (!keys.ok) throw new GatewayError({ reason: 'signing_keys_unavailable', problem: keys.problem })
    const body = {
      keys: publishedKeys(keys.keys.publicJwks, policy.previousSigningKeys, Math.floor(Date.now() / 1000)),
    }
    return new Response(JSON.stringify(body), {
      headers: {
        'content-type': 'application/json',
        'cache-control': `public, max-age=${JWKS_CACHE_MAX_AGE_S}`,
        'x-request-id': s.requestId,
      },
    })
  }
