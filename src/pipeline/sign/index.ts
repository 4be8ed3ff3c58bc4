import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { loadSigningKeys } from '../../keys/signing-keys.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import { invokerClaims, signInvokerToken } from './invoker-jwt.ts'

/** Step 5: mint the X-Invoker token for this request. */
export const sign = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> =>
  async function sign(c, next) {
    const keys = await loadSigningKeys(c.env.INVOKER_SIGNING_KEYS)
    if (!keys.ok) throw new GatewayError({ reason: 'signing_keys_unavailable', problem: keys.problem })
    const route = c.get('route')
    const authentication = c.get('authentication')
    const claims = invokerClaims({
      issuer: policy.gateway.issuer,
      audience: route.pack.id,
      ttlSeconds: policy.gateway.tokenTtlSeconds,
      requestId: c.get('requestId'),
      invoker: authentication.invoker,
      auth: authentication.auth,
      method: c.req.method,
      upstreamUrl: route.upstreamUrl,
      nowSeconds: Math.floor(Date.now() / 1000),
      mcp: c.get('mcp'),
    })
    c.set('invokerToken', await signInvokerToken(claims, keys.keys))
    await next()
  }
