/**
 * `GET /.well-known/oauth-protected-resource/<resource path>`: each MCP pack's Protected
 * Resource Metadata (RFC 9728 §3), at the URL its 401s name in `resource_metadata` and where a
 * client that only knows the pack's URL looks first (the well-known suffix inserted before the
 * path, §3.1; MCP 2025-11-25 "Protected Resource Metadata Discovery Requirements"). It tells
 * an MCP client which authorization servers issue tokens for the pack, for which `resource`
 * (RFC 8707) and with which scopes. The documents are built once, with the gateway.
 *
 * @module
 */
import { RESOURCE_METADATA_MAX_AGE_S } from '../../constants.ts'
import { GatewayError } from '../../errors/reasons.ts'
import type { CompiledPack, CompiledPolicy } from '../../policy/types.ts'
import type { RequestState } from '../../state.ts'

interface Document {
  host: string | null
  body: string
}

/** The metadata document of an MCP pack (RFC 9728 §2). */
export function resourceMetadata(pack: CompiledPack): Record<string, unknown> | null {
  const mcp = pack.mcp
  if (mcp === null) return null
  return {
    resource: mcp.resource,
    authorization_servers: mcp.authorizationServers,
    ...(mcp.scopes.length > 0 ? { scopes_supported: mcp.scopes } : {}),
    // MCP 2025-11-25 "Token Requirements": the Authorization header, never the query string.
    bearer_methods_supported: ['header'],
    resource_name: pack.id,
  }
}

/** Answers at every MCP pack's metadata path (the route table lists them). */
export function resourceMetadataRoute(policy: CompiledPolicy): (s: RequestState) => Promise<Response> {
  const byPath = new Map<string, Document[]>()
  for (const pack of policy.packs) {
    const document = resourceMetadata(pack)
    if (pack.mcp === null || document === null) continue
    const documents = byPath.get(pack.mcp.metadataPath) ?? []
    documents.push({ host: pack.host, body: JSON.stringify(document) })
    byPath.set(pack.mcp.metadataPath, documents)
  }
  return async function resourceMetadataRoute(s) {
    const url = s.url
    const host = url.host.toLowerCase()
    const hostname = url.hostname.toLowerCase()
    const document = byPath.get(url.pathname)?.find((d) => d.host === null || d.host === host || d.host === hostname)
    if (document === undefined) throw new GatewayError({ reason: 'route_not_found' })
    return new Response(document.body, {
      headers: {
        'content-type': 'application/json',
        'cache-control': `public, max-age=${RESOURCE_METADATA_MAX_AGE_S}`,
        // A public document: browser-based MCP clients read it from another origin.
        'access-control-allow-origin': '*',
        'x-request-id': s.requestId,
      },
    })
  }
}
