/**
 * One pack file: where it routes (upstream, host, path prefix, agents), which methods it
 * accepts and with what settings (bearer issuers, signers and key directories, CORS), its lists
 * and rate limits (pack-rules.ts), and the sections kept in files of their own (edge, MCP,
 * streams). Names it refers to in `_gateway.yaml` come in through {@link PackContext}.
 *
 * @module
 */
import type {
  AcceptedMethod,
  CompiledAgent,
  CompiledCors,
  CompiledIssuer,
  CompiledPack,
  CompiledRule,
  CompiledSession,
  CompiledSigner,
} from '../types.ts'
import { normalizePath } from '../../pipeline/route/normalize-path.ts'
import { parsePathPattern, patternsOverlap } from '../../pipeline/route/path-pattern.ts'
import { compileEdgeSettings } from './edge.ts'
import { canonicalHost } from './hosts.ts'
import { baseName, GATEWAY_FILE, type Located, type Path, type PolicyError } from './located.ts'
import { compileMcp } from './mcp.ts'
import { didYouMean } from './messages.ts'
import { compileRateLimits, compileRule } from './pack-rules.ts'
import { compilePattern } from './rule-values.ts'
import { parseDuration, type RawPackFile, type RawRule } from './schema.ts'
import { compileStreamSections } from './streams.ts'

export interface PackContext {
  keyNames: Set<string>
  issuers: Record<string, CompiledIssuer>
  session: CompiledSession | null
  signers: Record<string, CompiledSigner>
  directories: string[]
  env: Record<string, string | undefined>
  /**
   * Every name `_gateway.yaml` defines, compiled or not: a reference to one that failed to
   * compile is not reported again (its own error says what is wrong), nor given a "did you mean".
   */
  declared: { keyNames: ReadonlySet<string>; issuers: ReadonlySet<string>; signers: ReadonlySet<string> }
  /** The gateway's `issuer` (its public URL): the origin of an MCP pack's default resource. */
  gatewayIssuer: string
}

export function compilePack(
  located: Located<RawPackFile>,
  context: PackContext,
  errors: PolicyError[],
): CompiledPack | null {
  const { env } = context
  const raw = located.value
  const before = errors.length
  const expected = baseName(located.file).replace(/\.ya?ml$/, '')
  if (raw.pack !== expected) {
    errors.push(located.error(['pack'], `pack id "${raw.pack}" must equal the file name "${expected}"`))
  }

  const { value: upstreamText, missing } = interpolate(raw.upstream, env)
  if (missing.length > 0) {
    errors.push(located.error(['upstream'], `upstream needs the build environment variable ${missing.join(', ')}`))
  }
  let upstream = ''
  try {
    const url = new URL(upstreamText)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme')
    if (url.search || url.hash || url.username || url.password) throw new Error('extras')
    upstream = url.origin + url.pathname.replace(/\/+$/, '')
  } catch {
    if (missing.length === 0) {
      errors.push(located.error(['upstream'], 'upstream is an http(s) URL without query, fragment or credentials'))
    }
  }

  const prefix = normalizePath(raw.match.path_prefix)
  const pathPrefix = prefix.ok ? prefix.path.replace(/\/$/, '') : ''
  if (!prefix.ok || pathPrefix !== raw.match.path_prefix.replace(/\/$/, '')) {
    errors.push(
      located.error(
        ['match', 'path_prefix'],
        'path_prefix is a normalized path starting with "/" (no dot segments, "//" or escapes)',
      ),
    )
  }
  const host = raw.match.host?.toLowerCase() ?? null
  if (host !== null && !/^[a-z0-9.-]+(:\d+)?$/.test(host)) {
    errors.push(located.error(['match', 'host'], 'host is a host name, optionally with a port'))
  } else if (host !== null && canonicalHost(host) !== host) {
    // The matcher compares with the request URL's host, which is always spelled canonically.
    const canonical = canonicalHost(host)
    errors.push(
      located.error(
        ['match', 'host'],
        `write the host as URLs spell it${canonical ? `: ${canonical}` : ' (a port is 1 to 65535)'}`,
      ),
    )
  }

  const auth: AcceptedMethod[] = []
  raw.auth.forEach((method, i) => {
    if (auth.includes(method)) {
      errors.push(located.error(['auth', i], `auth method "${method}" is listed twice`))
    } else auth.push(method)
  })
  if (auth.length === 0 && raw.anonymous === 'deny') {
    errors.push(
      located.error(['auth'], 'the pack accepts no auth method and denies anonymous callers: nobody could call it'),
    )
  }

  const compileList = (list: RawRule[] | undefined, path: Path): CompiledRule[] =>
    (list ?? []).map((rule, i) => compileRule(rule, [...path, i], located, context.declared.keyNames, errors))

  const agents: CompiledAgent[] = []
  const agentPaths = new Map<string, string[]>()
  for (const [name, agent] of Object.entries(raw.agents ?? {})) {
    const parsed = parsePathPattern(agent.path)
    if (!parsed.ok) {
      errors.push(located.error(['agents', name, 'path'], parsed.problem))
      continue
    }
    for (const [other, pattern] of agentPaths) {
      if (patternsOverlap(pattern, parsed.segments)) {
        errors.push(
          located.error(
            ['agents', name, 'path'],
            `agent "${name}" overlaps agent "${other}": one request could match both`,
          ),
        )
      }
    }
    agentPaths.set(name, parsed.segments)
    agents.push({
      name,
      pattern: parsed.segments,
      allow: agent.allow ? compileList(agent.allow, ['agents', name, 'allow']) : null,
      deny: compileList(agent.deny, ['agents', name, 'deny']),
    })
  }

  const allow = raw.allow ? compileList(raw.allow, ['allow']) : null
  const deny = compileList(raw.deny, ['deny'])
  const rateLimits = compileRateLimits(raw, auth, agents, located, errors)
  const bearerIssuers = compileBearerIssuers(raw, auth, context, located, errors)
  if (auth.includes('session') && context.session === null) {
    errors.push(
      located.error(
        ['auth'],
        `auth: session needs a session section in ${GATEWAY_FILE} (which cookie, how to verify it)`,
      ),
    )
  }
  const scopes = (value: string | string[] | undefined): string[] =>
    value === undefined ? [] : Array.isArray(value) ? value : value.split(' ').filter(Boolean)
  const cors = compileCors(raw)
  const envelope = compileEnvelopePack(raw, auth, context, located, errors)
  const edge = compileEdgeSettings(raw, agents)
  for (const problem of edge.problems) errors.push(located.error(problem.path, problem.message))
  const requiredScopes = { all: scopes(raw.bearer?.scopes?.all_of), any: scopes(raw.bearer?.scopes?.any_of) }
  const mcp = compileMcp({
    raw,
    gatewayIssuer: context.gatewayIssuer,
    host,
    pathPrefix,
    bearerIssuers,
    issuers: context.issuers,
    requiredScopes,
    compileList,
    // Tool names keep their case (MCP compares them exactly).
    compilePattern: (name) => compilePattern(name, false),
    error: (path, message, onKey) => errors.push(located.error(path, message, onKey)),
  })
  const streams = compileStreamSections(raw, auth, agents)
  for (const problem of streams.problems) errors.push(located.error(problem.path, problem.message))
  if (errors.length > before) return null
  return {
    id: raw.pack,
    upstream,
    host,
    pathPrefix,
    stripPrefix: raw.strip_prefix,
    auth,
    anonymous: raw.anonymous === 'allow',
    mode: raw.mode,
    passCredentials: raw.pass_credentials,
    allow,
    deny,
    agents,
    rateLimits,
    bearerIssuers,
    requiredScopes,
    cors,
    envelope,
    ...edge.settings,
    mcp,
    ...streams.settings,
  }
}

function compileEnvelopePack(
  raw: RawPackFile,
  auth: AcceptedMethod[],
  context: PackContext,
  located: Located<RawPackFile>,
  errors: PolicyError[],
): CompiledPack['envelope'] {
  const none = { signers: [], directories: [], cover: [] }
  if (!auth.includes('envelope')) {
    if (raw.envelope !== undefined)
      errors.push(
        located.error(
          ['envelope'],
          'envelope settings on a pack that does not accept signed requests (add envelope to auth)',
          true,
        ),
      )
    return none
  }
  const signers = raw.envelope?.signers ?? Object.keys(context.signers)
  signers.forEach((name, i) => {
    if (!context.declared.signers.has(name))
      errors.push(
        located.error(
          ['envelope', 'signers', i],
          `no signer is named "${name}" in ${GATEWAY_FILE}${didYouMean(name, context.declared.signers)}`,
        ),
      )
  })
  const directories = raw.envelope?.directories ?? context.directories
  directories.forEach((origin, i) => {
    if (!context.directories.includes(origin))
      errors.push(
        located.error(['envelope', 'directories', i], `"${origin}" is not under key_directories in ${GATEWAY_FILE}`),
      )
  })
  if (signers.length === 0 && directories.length === 0 && context.declared.signers.size === 0) {
    errors.push(located.error(['auth'], `auth: envelope needs a signer or a key directory in ${GATEWAY_FILE}`))
  }
  const cover = raw.envelope?.cover ?? []
  cover.forEach((component, i) => {
    if (!isComponentIdentifier(component)) {
      errors.push(
        located.error(
          ['envelope', 'cover', i],
          'a component is a lower-case field name or a derived component (@method, @target-uri, @authority, @scheme, @request-target, @path, @query, @query-param;name=…)',
        ),
      )
    }
  })
  return { signers, directories, cover }
}

const DERIVED_COMPONENTS = new Set([
  '@method',
  '@target-uri',
  '@authority',
  '@scheme',
  '@request-target',
  '@path',
  '@query',
])

function isComponentIdentifier(text: string): boolean {
  if (DERIVED_COMPONENTS.has(text)) return true
  if (/^@query-param;name=[^;]+$/.test(text)) return true
  return /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(text)
}

function compileBearerIssuers(
  raw: RawPackFile,
  auth: AcceptedMethod[],
  context: PackContext,
  located: Located<RawPackFile>,
  errors: PolicyError[],
): string[] {
  const all = Object.keys(context.issuers)
  if (!auth.includes('bearer')) {
    if (raw.bearer !== undefined)
      errors.push(
        located.error(
          ['bearer'],
          'bearer settings on a pack that does not accept bearer tokens (add bearer to auth)',
          true,
        ),
      )
    return []
  }
  if (all.length === 0) {
    if (context.declared.issuers.size === 0)
      errors.push(located.error(['auth'], `auth: bearer needs at least one entry under issuers in ${GATEWAY_FILE}`))
    return []
  }
  const named = raw.bearer?.issuers ?? all
  named.forEach((name, i) => {
    if (!context.declared.issuers.has(name))
      errors.push(
        located.error(
          ['bearer', 'issuers', i],
          `no issuer is named "${name}" in ${GATEWAY_FILE}${didYouMean(name, context.declared.issuers)}`,
        ),
      )
  })
  // An opaque token names no issuer; it goes to the one introspection endpoint the pack trusts,
  // never to several (that would hand one provider's tokens to another).
  const introspecting = named.filter((name) => context.issuers[name]?.introspection)
  if (introspecting.length > 1) {
    errors.push(
      located.error(
        raw.bearer?.issuers ? ['bearer', 'issuers'] : ['auth'],
        `the pack would accept opaque tokens from ${introspecting.join(' and ')}: name at most one issuer with introspection under bearer.issuers`,
      ),
    )
  }
  return named
}

function compileCors(raw: RawPackFile): CompiledCors | null {
  if (!raw.cors) return null
  return {
    origins: raw.cors.origins,
    credentials: raw.cors.credentials,
    maxAgeSeconds: Math.round(parseDuration(raw.cors.max_age) / 1000),
    allowHeaders: raw.cors.allow_headers ?? [],
    exposeHeaders: raw.cors.expose_headers ?? [],
  }
}

/** Replaces `${VAR}` and `${VAR:-default}` from the build environment. */
function interpolate(text: string, env: Record<string, string | undefined>): { value: string; missing: string[] } {
  const missing: string[] = []
  const value = text.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
    const found = env[name]
    if (found !== undefined && found !== '') return found
    if (fallback !== undefined) return fallback
    missing.push(name)
    return ''
  })
  return { value, missing }
}
