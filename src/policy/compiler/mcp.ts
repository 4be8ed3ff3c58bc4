/**
 * The compiler's part for MCP packs (`protocol: mcp`): the resource a pack's tokens are bound to
 * (RFC 8707), where its Protected Resource Metadata lives (RFC 9728), which authorization servers
 * and scopes it publishes, and its per-tool lists. Build time only, like the rest of the compiler.
 *
 * @module
 */
import type {
  CompiledIssuer,
  CompiledMcp,
  CompiledPack,
  CompiledPattern,
  CompiledRule,
  CompiledToolEntry,
} from '../types.ts'
import type { RawMcpSettings, RawPackFile, RawRule } from './schema.ts'

/** RFC 9728 §3: the well-known suffix inserted between the host and the path of the resource. */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource'

/** Tool names the gateway can match: visible ASCII (MCP 2025-11-25 asks for `A-Za-z0-9_-.`). */
const TOOL_NAME = /^[\x21-\x7E]+$/

type Path = readonly (string | number)[]

/** What the MCP part needs from the pack compiler (passed in, so this file imports nothing back). */
export interface McpCompileContext {
  raw: RawPackFile
  /** The gateway's `issuer`: its public URL, the origin of a default resource. */
  gatewayIssuer: string
  host: string | null
  pathPrefix: string
  bearerIssuers: string[]
  issuers: Record<string, CompiledIssuer>
  requiredScopes: { all: string[]; any: string[] }
  compileList(list: RawRule[] | undefined, path: Path): CompiledRule[]
  compilePattern(value: string): CompiledPattern
  error(path: Path, message: string, onKey?: boolean): void
}

export function compileMcp(context: McpCompileContext): CompiledMcp | null {
  const { raw, error } = context
  if (raw.protocol !== 'mcp') {
    if (raw.mcp !== undefined)
      error(['mcp'], 'mcp settings on a pack that is not an MCP server (add protocol: mcp)', true)
    return null
  }
  const settings: RawMcpSettings = raw.mcp ?? { max_body_bytes: 1024 * 1024 }
  if (!raw.auth.includes('bearer')) {
    // MCP clients find out how to get a token from the Bearer challenge (MCP 2025-11-25, "Authorization").
    error(['auth'], 'an MCP pack takes bearer tokens (MCP clients authorize with OAuth): add bearer to auth')
    return null
  }
  const resource = resourceOf(context, settings)
  if (resource === null) return null
  const serverNames = settings.authorization_servers ?? context.bearerIssuers
  const authorizationServers: string[] = []
  serverNames.forEach((name, i) => {
    const at: Path = settings.authorization_servers ? ['mcp', 'authorization_servers', i] : ['auth']
    const issuer = context.issuers[name]
    if (issuer === undefined || !context.bearerIssuers.includes(name)) {
      error(at, `"${name}" is not an issuer whose tokens this pack accepts (bearer.issuers)`)
      return
    }
    if (!isHttpUrl(issuer.issuer)) {
      error(
        at,
        `issuer "${name}" has iss "${issuer.issuer}": an authorization server is named by an http(s) URL (RFC 8414)`,
      )
      return
    }
    authorizationServers.push(issuer.issuer)
  })
  const required = unique([...context.requiredScopes.all, ...context.requiredScopes.any])
  const scopes = settings.scopes ? unique(settings.scopes) : required
  const unpublished = required.filter((scope) => !scopes.includes(scope))
  if (unpublished.length > 0) {
    error(
      ['mcp', 'scopes'],
      `scopes lacks what bearer.scopes requires: ${unpublished.join(', ')} (clients ask for these scopes)`,
    )
  }
  const url = new URL(resource)
  const metadataPath = PROTECTED_RESOURCE_WELL_KNOWN + (url.pathname === '/' ? '' : url.pathname)
  return {
    resource,
    metadataUrl: url.origin + metadataPath,
    metadataPath,
    authorizationServers,
    scopes,
    challengeScope: required.length > 0 ? required.join(' ') : null,
    maxBodyBytes: settings.max_body_bytes,
    tools: settings.tools ? compileTools(settings.tools, context) : null,
  }
}

/**
 * The canonical resource URI (MCP 2025-11-25 "Canonical Server URI", RFC 8707 §2): absolute,
 * lower-case scheme and host (URL parsing does that), no fragment, no query (RFC 9728 inserts
 * its suffix before the path), no trailing slash. By default the gateway's public URL (its
 * `issuer`, or `match.host` on the issuer's scheme) and the pack's path prefix: the URL a client
 * is given.
 */
function resourceOf(context: McpCompileContext, settings: RawMcpSettings): string | null {
  const { error } = context
  let text: string
  let at: Path
  if (settings.resource !== undefined) {
    text = settings.resource
    at = ['mcp', 'resource']
  } else {
    if (!isHttpUrl(context.gatewayIssuer)) {
      error(
        ['protocol'],
        "the default resource of an MCP pack is the gateway's issuer (its public URL) and path_prefix: set issuer to an http(s) URL in _gateway.yaml, or mcp.resource",
      )
      return null
    }
    const gateway = new URL(context.gatewayIssuer)
    text = (context.host === null ? gateway.origin : `${gateway.protocol}//${context.host}`) + context.pathPrefix
    at = ['protocol']
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    error(at, 'the resource is an absolute http(s) URL')
    return null
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.search !== '' ||
    url.hash !== '' ||
    text.includes('#') ||
    url.username !== '' ||
    url.password !== ''
  ) {
    error(at, 'the resource is an http(s) URL without query, fragment or credentials (RFC 8707 §2)')
    return null
  }
  const path = url.pathname.replace(/\/+$/, '')
  return url.origin + path
}

function compileTools(raw: NonNullable<RawMcpSettings['tools']>, context: McpCompileContext): CompiledMcp['tools'] {
  const entries: CompiledToolEntry[] = []
  for (const [name, entry] of Object.entries(raw.names)) {
    const at: Path = ['mcp', 'tools', 'names', name]
    if (!TOOL_NAME.test(name)) {
      context.error(at, `tool name "${name}": use visible ASCII characters ("*" a wildcard)`, true)
      continue
    }
    entries.push({
      name,
      pattern: context.compilePattern(name),
      allow: entry.allow ? context.compileList(entry.allow, [...at, 'allow']) : null,
      deny: context.compileList(entry.deny, [...at, 'deny']),
    })
  }
  return { default: raw.default, entries }
}

/**
 * After every pack compiled: each issuer that MCP packs accept gets their resources among its
 * audiences (a token for an MCP pack must verify), remembered apart as `mcpResources` unless
 * the issuer's own `audience` names them too. Returns the issuers (by name) left with no audience.
 */
export function addMcpAudiences(packs: readonly CompiledPack[], issuers: Record<string, CompiledIssuer>): string[] {
  for (const pack of packs) {
    if (pack.mcp === null) continue
    for (const name of pack.bearerIssuers) {
      const issuer = issuers[name]
      if (issuer === undefined || issuer.audiences.includes(pack.mcp.resource)) continue
      issuer.audiences.push(pack.mcp.resource)
      issuer.mcpResources.push(pack.mcp.resource)
    }
  }
  return Object.values(issuers)
    .filter((issuer) => issuer.audiences.length === 0)
    .map((issuer) => issuer.name)
}

/** Two MCP packs whose metadata would be served at one URL: refused, like overlapping routes. */
export function mcpMetadataClash(packs: readonly CompiledPack[]): { pack: CompiledPack; other: CompiledPack } | null {
  const seen = new Map<string, CompiledPack>()
  for (const pack of packs) {
    if (pack.mcp === null) continue
    const key = pack.mcp.metadataUrl
    const other = seen.get(key)
    if (other) return { pack, other }
    seen.set(key, pack)
  }
  return null
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)]
}
