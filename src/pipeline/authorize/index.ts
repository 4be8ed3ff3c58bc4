import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import { decide, refusalFor } from './decide.ts'

/**
 * Step 3: apply the pack's and the agent's lists. In `mode: report` a denial is recorded (the
 * log line says `would_deny` and why) and the request goes on.
 */
export const authorize = (): MiddlewareHandler<GatewayEnv> =>
  async function authorize(c, next) {
    const { pack, agent } = c.get('route')
    const authentication = c.get('authentication')
    const decision = decide(pack, agent, authentication, c.get('method'))
    c.set('decision', decision)
    const refusal = refusalFor(pack, agent, authentication, decision)
    if (refusal) {
      if (pack.mode !== 'report') throw new GatewayError(refusal)
      // The first reason wins: a caller forwarded without a credential stays `credential_missing`.
      c.set('wouldDeny', c.get('wouldDeny') ?? refusal)
    }
    await next()
  }
