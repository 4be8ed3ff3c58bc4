/**
 * Step 1b: browser callers (CORS). For a pack with `cors`, the gateway answers preflights itself
 * (before authentication: a preflight carries no credentials) and adds the CORS fields to every
 * answer, errors included, so a browser app can read a 401's problem (the app applies the fields
 * this step records, http/answer.ts).
 *
 * Written to answer exactly as hono's `cors` middleware did (test/worker/cors-reference.test.ts
 * holds the two side by side): that middleware works on a Hono context, setting the fields on
 * a response Hono then merges into every answer (one more copy of each response), while here
 * the fields of each pack are made once, with the gateway, and set on the answer's own headers.
 *
 * @module
 */
import { corsFields } from '../../http/answer.ts'
import type { CompiledCors, CompiledPolicy } from '../../policy/types.ts'
import type { Routed } from '../../state.ts'

/** What a browser app may send: the credentials the gateway understands and a body type. */
export const ALLOW_HEADERS = [
  'authorization',
  'content-type',
  'x-api-key',
  'signature',
  'signature-input',
  'content-digest',
  'signature-agent',
]

/** What it may read: the request id to quote, and what tells it how to retry. */
export const EXPOSE_HEADERS = [
  'x-request-id',
  'www-authenticate',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'accept-signature',
]

/** MCP packs: a browser MCP client sends and reads the Streamable HTTP transport's own fields. */
const MCP_ALLOW_HEADERS = ['mcp-session-id', 'mcp-protocol-version', 'last-event-id']
const MCP_EXPOSE_HEADERS = ['mcp-session-id']

/** The methods a preflight names (hono's default list, which the gateway has always answered with). */
const ALLOW_METHODS = 'GET,HEAD,PUT,POST,DELETE,PATCH,QUERY'

interface PackCors {
  origins: readonly string[]
  credentials: boolean
  expose: string
  allowHeaders: string
  maxAge: string
}

function packCors(config: CompiledCors, mcp: boolean): PackCors {
  return {
    origins: config.origins,
    credentials: config.credentials,
    expose: [...EXPOSE_HEADERS, ...(mcp ? MCP_EXPOSE_HEADERS : []), ...config.exposeHeaders].join(','),
    allowHeaders: [...ALLOW_HEADERS, ...(mcp ? MCP_ALLOW_HEADERS : []), ...config.allowHeaders].join(','),
    maxAge: String(config.maxAgeSeconds),
  }
}

/** Records the request's CORS fields; answers a preflight (`OPTIONS`) itself. */
export const cors = (policy: CompiledPolicy) => {
  const byPack = new Map<string, PackCors>()
  for (const pack of policy.packs) if (pack.cors !== null) byPack.set(pack.id, packCors(pack.cors, pack.mcp !== null))
  return function cors(s: Routed): Response | null {
    const config = byPack.get(s.route.pack.id)
    if (config === undefined) return null
    const origin = s.request.headers.get('origin') || ''
    // Fetch §3.2.5: the allowed origin is echoed, never `*`: credentials may be sent.
    s.cors = {
      allowOrigin: config.origins.includes(origin) ? origin : null,
      credentials: config.credentials,
      expose: config.expose,
    }
    if (s.request.method !== 'OPTIONS') return null
    const headers = new Headers()
    corsFields(headers, s.cors)
    headers.set('access-control-max-age', config.maxAge)
    headers.set('access-control-allow-methods', ALLOW_METHODS)
    headers.set('access-control-allow-headers', config.allowHeaders)
    headers.append('vary', 'Access-Control-Request-Headers')
    return new Response(null, { status: 204, statusText: 'No Content', headers })
  }
}
