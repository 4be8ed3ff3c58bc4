import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import { matchRoute } from './match.ts'

/** Step 1: find the pack and agent for the request, or answer 404/400. */
export const route = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> =>
  async function route(c, next) {
    const result = matchRoute(policy.packs, c.get('url'))
    if (!result.ok) {
      throw new GatewayError(result.notFound ? { reason: 'route_not_found' } : { reason: 'bad_path', problem: result.problem })
    }
    c.set('route', result.match)
    await next()
  }
