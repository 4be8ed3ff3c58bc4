/**
 * Step 1: find the pack and agent for the request, and the method it is decided on; or answer
 * 404/400. The gateway's own endpoints (JWKS, RFC 9728 metadata, the admin endpoint) are found
 * first, by exact path, in the route table the build made.
 *
 * @module
 */
import { GatewayError } from '../../errors/reasons.ts'
import { effectiveMethod } from '../../http/method-override.ts'
import type { CompiledPolicy, GatewayEndpoint } from '../../policy/types.ts'
import { type RequestState, type Routed, UNPARSABLE_URL } from '../../state.ts'
import { matchRoute } from './match.ts'
import { normalizePath } from './normalize-path.ts'
import { endpointOf } from './table.ts'

const UNPARSABLE_PROBLEM = 'the request has no URL the gateway can read (is its Host field a host name or address?)'

/** Every path under this is the gateway's (the admin endpoint lives here). */
const RESERVED_PREFIX = '/.well-known/invoker-gateway'

export const route = (policy: CompiledPolicy) => {
  const { packs } = policy
  const { prefixes } = policy.routes
  const endpoints = new Map(Object.entries(policy.routes.endpoints))
  const isReserved = (path: string): boolean =>
    endpoints.has(path) ||
    path === RESERVED_PREFIX ||
    (path.startsWith(RESERVED_PREFIX) && path[RESERVED_PREFIX.length] === '/')
  /**
   * The gateway's own endpoint the request is for (a string), or the request routed to its pack.
   * The gateway's paths are reserved as packs are matched, on the normalized path: no spelling
   * of them (`//.well-known/…`, `%6Awks`), and no other method, reaches a backend.
   */
  return function route(s: RequestState): GatewayEndpoint | Routed {
    if (s.url === UNPARSABLE_URL) throw new GatewayError({ reason: 'bad_path', problem: UNPARSABLE_PROBLEM })
    const raw = s.url.pathname
    const requested = s.request.method
    const normalized = normalizePath(raw)
    const path = normalized.ok ? normalized.path : raw
    if (isReserved(path)) {
      const found = path === raw ? endpointOf(endpoints, requested, path) : null
      if (found !== null) return found
      throw new GatewayError(
        path === raw && endpoints.has(path)
          ? { reason: 'method_not_allowed', method: requested }
          : { reason: 'route_not_found' },
      )
    }
    // TRACE (and IIS's TRACK) echo the request back: the backend would show the client the
    // X-Invoker token and every header the gateway added (cross-site tracing).
    if (requested === 'TRACE' || requested === 'TRACK')
      throw new GatewayError({ reason: 'method_not_allowed', method: requested })
    const result = matchRoute(packs, s.url, prefixes, normalized)
    if (!result.ok) {
      throw new GatewayError(
        result.notFound ? { reason: 'route_not_found' } : { reason: 'bad_path', problem: result.problem },
      )
    }
    const routed = s as Routed
    routed.route = result.match
    const method = effectiveMethod(requested, s.request.headers, result.match.pack.methodOverride)
    if (!method.ok) throw new GatewayError({ reason: 'method_override_invalid', problem: method.problem })
    routed.method = method.method
    routed.methodOverride = method.override
    return routed
  }
}
