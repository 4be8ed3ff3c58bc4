import { GatewayError } from '../../errors/reasons.ts'
import { loadSigningKeys } from '../../keys/signing-keys.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import type { Authenticated, Signed } from '../../state.ts'
import { invokerClaims, signInvokerToken } from './invoker-jwt.ts'

/** Step 5: mint the X-Invoker token for this request. */
export const sign = (policy: CompiledPolicy) => {
  const { issuer, tokenTtlSeconds } = policy.gateway
  return async function sign(s: Authenticated): Promise<Signed> {
    const keys = await loadSigningKeys(s.env.INVOKER_SIGNING_KEYS)
    if (!keys.ok) throw new GatewayError({ reason: 'signing_keys_unavailable', problem: keys.problem })
    const { route, authentication } = s
    const claims = invokerClaims({
      issuer,
      audience: route.pack.id,
      ttlSeconds: tokenTtlSeconds,
      requestId: s.requestId,
      invoker: authentication.invoker,
      auth: authentication.auth,
      method: s.request.method,
      upstreamUrl: route.upstreamUrl,
      nowSeconds: Math.floor(Date.now() / 1000),
      mcp: s.mcp,
    })
    const signed = s as Signed
    signed.invokerToken = await signInvokerToken(claims, keys.keys)
    return signed
  }
}
