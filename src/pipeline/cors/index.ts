/**
 * Step 1b: browser callers (CORS). For a pack with `cors`, the gateway answers preflights itself
 * (before authentication: a preflight carries no credentials) and adds the CORS headers to every
 * answer, errors included, so a browser app can read a 401's problem. Hono's `cors` helper does
 * the work; one instance per pack is built with the gateway.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono'
import { cors as honoCors } from 'hono/cors'
import type { GatewayEnv } from '../../env.ts'
import type { CompiledCors, CompiledPolicy } from '../../policy/types.ts'

/** What a browser app may send: the credentials the gateway understands and a body type. */
const ALLOW_HEADERS = ['authorization', 'content-type', 'x-api-key', 'signature', 'signature-input', 'content-digest', 'signature-agent']

/** What it may read: the request id to quote, and what tells it how to retry. */
const EXPOSE_HEADERS = ['x-request-id', 'www-authenticate', 'retry-after', 'ratelimit', 'ratelimit-policy', 'accept-signature']

/** MCP packs: a browser MCP client sends and reads the Streamable HTTP transport's own fields. */
const MCP_ALLOW_HEADERS = ['mcp-session-id', 'mcp-protocol-version', 'last-event-id']
const MCP_EXPOSE_HEADERS = ['mcp-session-id']

function packCors(config: CompiledCors, mcp: boolean): MiddlewareHandler<GatewayEnv> {
  return honoCors({
    origin: config.origins,
    credentials: config.credentials,
    maxAge: config.maxAgeSeconds,
    allowHeaders: [...ALLOW_HEADERS, ...(mcp ? MCP_ALLOW_HEADERS : []), ...config.allowHeaders],
    exposeHeaders: [...EXPOSE_HEADERS, ...(mcp ? MCP_EXPOSE_HEADERS : []), ...config.exposeHeaders],
  })
}

export const cors = (policy: CompiledPolicy): MiddlewareHandler<GatewayEnv> => {
  const byPack = new Map<string, MiddlewareHandler<GatewayEnv>>()
  for (const pack of policy.packs) if (pack.cors !== null) byPack.set(pack.id, packCors(pack.cors, pack.mcp !== null))
  return async function cors(c, next) {
    const handler = byPack.get(c.get('route').pack.id)
    if (handler === undefined) return next()
    return handler(c, next)
  }
}
