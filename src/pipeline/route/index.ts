import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env.ts'
import { GatewayError } from '../../errors/reasons.ts'
import type { CompiledPolicy } from '../../policy/types.ts'
import { matchRoute } from './match.ts'
import { effectiveMethod } from './method-override.ts'

/** Step 1: find the pack and agent for the request, and the method it is decided on; or answer 404/400. */
export const route = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> =>
  async function route(c, next) {
    const result = matchRoute(policy.packs, c.get('url'))
    if (!result.ok) {
      throw new GatewayError(result.notFound ? { reason: 'route_not_found' } : { reason: 'bad_path', problem: result.problem })
    }
    c.set('route', result.match)
    const method = effectiveMethod(c.req.method, c.req.raw.headers, result.match.pack.methodOverride)
    if (!method.ok) throw new GatewayError({ reason: 'method_override_invalid', problem: method.problem })
    c.set('method', method.method)
    c.set('methodOverride', method.override)
    await next()
  }
