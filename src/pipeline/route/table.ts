/**
 * The route table, made by the build (compiler) from the compiled packs, so that a request looks
 * its way up instead of trying every pack: an exact path for the gateway's own endpoints, and
 * for packs the request path's prefixes, longest first, each one map lookup. Packs cannot
 * overlap (the build refuses it), so the first pack found whose host matches is the only one.
 *
 * @module
 */
import { ADMIN_KEYS_PATH, JWKS_PATH } from '../../constants.ts'
import type { CompiledPack, CompiledRoutes, GatewayEndpoint } from '../../policy/types.ts'

export function routeTable(packs: readonly CompiledPack[]): CompiledRoutes {
  const endpoints: Record<string, GatewayEndpoint> = { [JWKS_PATH]: 'jwks', [ADMIN_KEYS_PATH]: 'admin_keys' }
  for (const pack of packs) if (pack.mcp !== null) endpoints[pack.mcp.metadataPath] = 'resource_metadata'
  return { endpoints, prefixes: prefixTable(packs) }
}

export function prefixTable(packs: readonly CompiledPack[]): Record<string, number[]> {
  const prefixes: Record<string, number[]> = {}
  packs.forEach((pack, index) => {
    prefixes[pack.pathPrefix] ??= []
    prefixes[pack.pathPrefix]?.push(index)
  })
  return prefixes
}

/**
 * The gateway's endpoint a request is for, or `null` for a pack: by exact path and method, as
 * the endpoints answer (`GET` and `HEAD` for the documents; `POST`, `GET` and `HEAD` for the
 * admin endpoint, and `DELETE` one segment below it). Any other request goes to the packs.
 */
export function endpointOf(
  endpoints: ReadonlyMap<string, GatewayEndpoint>,
  method: string,
  path: string,
): GatewayEndpoint | null {
  const read = method === 'GET' || method === 'HEAD'
  const exact = endpoints.get(path)
  if (exact !== undefined) return read || (method === 'POST' && exact === 'admin_keys') ? exact : null
  if (method !== 'DELETE' || !path.startsWith(ADMIN_KEYS_PATH + '/')) return null
  return path.indexOf('/', ADMIN_KEYS_PATH.length + 1) < 0 && path.length > ADMIN_KEYS_PATH.length + 1
    ? 'admin_keys'
    : null
}
