/**
 * Compiles the YAML policy files into a {@link CompiledPolicy}. Pure: files and the build
 * environment come in, a policy or a list of `file:line:col` errors comes out, so the CLI,
 * the build step and the tests all run the same code.
 *
 * Everything that can be decided once is decided here: defaults, durations, globs turned into
 * anchored regular expressions, path prefixes normalized, agent patterns parsed and checked for
 * overlap, API key references resolved.
 *
 * @module
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { z } from 'zod'
import {
  COMPILED_POLICY_VERSION,
  type AcceptedMethod,
  type ApiKeyRecord,
  type CompiledAgent,
  type CompiledPack,
  type CompiledPattern,
  type CompiledPolicy,
  type CompiledRateLimit,
  type CompiledRule,
  type RateLimitKeySource,
  type RuleField,
} from '../types.ts'
import { normalizePath, pathSegments } from '../../pipeline/route/normalize-path.ts'
import { parsePathPattern, patternsOverlap } from '../../pipeline/route/path-pattern.ts'
import {
  fixtureFile,
  gatewayFile,
  packFile,
  parseDuration,
  RULE_FIELDS,
  SUPPORTED_AUTH_METHODS,
  type RawFixture,
  type RawGatewayFile,
  type RawPackFile,
  type RawRule,
} from './schema.ts'

export interface SourceFile {
  /** Path as it should appear in messages, e.g. `policies/echo.yaml`. */
  path: string
  text: string
}

export interface PolicyError {
  file: string
  line: number
  col: number
  message: string
}

export type CompileResult =
  | { ok: true; policy: CompiledPolicy; fixtures: LoadedFixture[] }
  | { ok: false; errors: PolicyError[] }

export interface LoadedFixture extends RawFixture {
  file: string
  line: number
}

export const GATEWAY_FILE = '_gateway.yaml'

export function formatError(error: PolicyError): string {
  return `${error.file}:${error.line}:${error.col}: ${error.message}`
}

type Path = readonly (string | number)[]

/** A parsed file that can turn a path inside the document into a line and column. */
class Located<T> {
  readonly file: string
  readonly doc: Document
  readonly lines: LineCounter
  readonly value: T
  constructor(file: string, doc: Document, lines: LineCounter, value: T) {
    this.file = file
    this.doc = doc
    this.lines = lines
    this.value = value
  }

  error(path: Path, message: string, onKey = false): PolicyError {
    const offset = this.offsetOf(path, onKey)
    const { line, col } = this.lines.linePos(offset)
    return { file: this.file, line, col, message }
  }

  private offsetOf(path: Path, onKey: boolean): number {
    let node: unknown = this.doc.contents
    let offset = rangeStart(node)
    for (let i = 0; i < path.length; i++) {
      const step = path[i] as string | number
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === step)
        if (!pair) break
        const last = i === path.length - 1
        node = last && onKey ? pair.key : pair.value
        offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset
      } else if (isSeq(node) && typeof step === 'number') {
        node = node.items[step]
        offset = rangeStart(node) ?? offset
      } else break
    }
    return offset ?? 0
  }
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0]
}

function parseYaml<T>(file: SourceFile, schema: z.ZodType<T>, errors: PolicyError[]): Located<T> | null {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0])
      errors.push({ file: file.path, line, col, message: e.message.split('\n')[0] ?? e.message })
    }
    return null
  }
  const raw: unknown = doc.toJS()
  const parsed = schema.safeParse(raw)
  const located = new Located(file.path, doc, lines, parsed.success ? parsed.data : (undefined as T))
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          errors.push(located.error([...issue.path, key] as Path, `unknown key "${key}"`, true))
        }
      } else {
        const where = issue.path.length ? `${issue.path.join('.')}: ` : ''
        errors.push(located.error(issue.path as Path, where + plainMessage(issue, valueAt(raw, issue.path as Path))))
      }
    }
    return null
  }
  return located
}

function valueAt(root: unknown, path: Path): unknown {
  let node = root
  for (const step of path) node = typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[step] : undefined
  return node
}

function plainMessage(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type') {
    if (value === undefined) return 'is required'
    // YAML reads an unquoted 123 or 1e5 as a number; hashes and ids need quotes.
    if (issue.expected === 'string' && typeof value === 'number') return 'expected a string: put the value in quotes'
    return `expected ${issue.expected}`
  }
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
  if (issue.code === 'invalid_union') return 'has an unsupported form'
  return issue.message
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

export interface CompileInput {
  /** Top-level policy files: `_gateway.yaml` and one file per pack. */
  policies: SourceFile[]
  /** Decision fixtures (`policies/tests/*.yaml`). */
  fixtures?: SourceFile[]
  /** Build environment for `${VAR}` in `upstream`. */
  env?: Record<string, string | undefined>
}

export function compilePolicies(input: CompileInput): CompileResult {
  const errors: PolicyError[] = []
  const env = input.env ?? {}
  const gatewaySource = input.policies.find((f) => baseName(f.path) === GATEWAY_FILE)
  if (!gatewaySource) {
    return { ok: false, errors: [{ file: GATEWAY_FILE, line: 1, col: 1, message: 'the gateway-wide policy file is missing' }] }
  }
  const gateway = parseYaml(gatewaySource, gatewayFile, errors)
  const packSources = input.policies.filter((f) => f !== gatewaySource)
  const packs = packSources.map((file) => parseYaml(file, packFile, errors))
  const fixtureDocs = (input.fixtures ?? []).map((file) => parseYaml(file, fixtureFile, errors))
  if (!gateway || errors.length > 0) return { ok: false, errors }

  const apiKeys = compileApiKeys(gateway, errors)
  const keyNames = new Set(Object.values(apiKeys).map((k) => k.name))
  const compiledPacks: CompiledPack[] = []
  const packOrigin = new Map<string, Located<RawPackFile>>()
  for (const located of packs) {
    if (!located) continue
    const pack = compilePack(located, keyNames, env, errors)
    if (!pack) continue
    const previous = packOrigin.get(pack.id)
    if (previous) {
      errors.push(located.error(['pack'], `pack "${pack.id}" is already defined in ${previous.file}`))
      continue
    }
    packOrigin.set(pack.id, located)
    compiledPacks.push(pack)
  }
  checkRouteOverlaps(compiledPacks, packOrigin, errors)
  const packIds = new Set(compiledPacks.map((p) => p.id))
  for (const [name, key] of Object.entries(gateway.value.api_keys)) {
    key.packs?.forEach((id, i) => {
      if (!packIds.has(id)) errors.push(gateway.error(['api_keys', name, 'packs', i], `no pack is named "${id}"`))
    })
  }
  if (errors.length > 0) return { ok: false, errors }

  const fixtures: LoadedFixture[] = []
  for (const doc of fixtureDocs) {
    if (!doc) continue
    doc.value.forEach((fixture, i) => {
      const { line } = doc.lines.linePos(rangeStart((doc.doc.contents as { items?: unknown[] } | null)?.items?.[i]) ?? 0)
      if ('api_key' in fixture.invoker && !keyNames.has(fixture.invoker.api_key)) {
        errors.push(doc.error([i, 'invoker', 'api_key'], `no API key is named "${fixture.invoker.api_key}"`))
      }
      fixtures.push({ ...fixture, file: doc.file, line })
    })
  }
  if (errors.length > 0) return { ok: false, errors }

  const settings = gateway.value
  return {
    ok: true,
    fixtures,
    policy: {
      version: COMPILED_POLICY_VERSION,
      gateway: {
        issuer: settings.issuer,
        headerName: settings.header.toLowerCase(),
        tokenTtlSeconds: Math.max(1, Math.round(parseDuration(settings.token_ttl) / 1000)),
        upstreamTimeoutMs: parseDuration(settings.upstream_timeout),
        storeTimeoutMs: parseDuration(settings.store_timeout),
      },
      apiKeys,
      packs: compiledPacks,
    },
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

function compileApiKeys(gateway: Located<RawGatewayFile>, errors: PolicyError[]): Record<string, ApiKeyRecord> {
  const out: Record<string, ApiKeyRecord> = {}
  const byKeyId = new Map<string, string>()
  for (const [name, key] of Object.entries(gateway.value.api_keys)) {
    const clash = byKeyId.get(key.key_id)
    if (clash) {
      errors.push(gateway.error(['api_keys', name, 'key_id'], `key_id "${key.key_id}" is already used by "${clash}"`))
      continue
    }
    byKeyId.set(key.key_id, name)
    let expiresAt: number | null = null
    if (key.expires !== undefined) {
      const time = key.expires instanceof Date ? key.expires.getTime() : Date.parse(key.expires)
      if (Number.isNaN(time)) {
        errors.push(gateway.error(['api_keys', name, 'expires'], 'expires is not an ISO 8601 date or date-time'))
        continue
      }
      expiresAt = Math.floor(time / 1000)
    }
    const invoker = key.invoker
    out[key.key_id] = {
      name,
      keyId: key.key_id,
      sha256: key.sha256,
      packs: key.packs ?? null,
      expiresAt,
      revoked: key.revoked,
      invoker: {
        id: invoker.id ?? `apikey:${name}`,
        kind: invoker.kind,
        ...(invoker.label !== undefined ? { label: invoker.label } : { label: name }),
        meta: invoker.meta as ApiKeyRecord['invoker']['meta'],
      },
    }
  }
  return out
}

function compilePack(
  located: Located<RawPackFile>,
  keyNames: Set<string>,
  env: Record<string, string | undefined>,
  errors: PolicyError[],
): CompiledPack | null {
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
    errors.push(located.error(['match', 'path_prefix'], 'path_prefix is a normalized path starting with "/" (no dot segments, "//" or escapes)'))
  }
  const host = raw.match.host?.toLowerCase() ?? null
  if (host !== null && !/^[a-z0-9.-]+(:\d+)?$/.test(host)) {
    errors.push(located.error(['match', 'host'], 'host is a host name, optionally with a port'))
  }

  const auth: AcceptedMethod[] = []
  raw.auth.forEach((method, i) => {
    if (!SUPPORTED_AUTH_METHODS.includes(method)) {
      errors.push(located.error(['auth', i], `auth method "${method}" is not available in this version of the gateway (available: ${SUPPORTED_AUTH_METHODS.join(', ')})`))
    } else if (auth.includes(method)) {
      errors.push(located.error(['auth', i], `auth method "${method}" is listed twice`))
    } else auth.push(method)
  })
  if (auth.length === 0 && raw.anonymous === 'deny') {
    errors.push(located.error(['auth'], 'the pack accepts no auth method and denies anonymous callers: nobody could call it'))
  }

  const compileList = (list: RawRule[] | undefined, path: Path): CompiledRule[] =>
    (list ?? []).map((rule, i) => compileRule(rule, [...path, i], located, keyNames, errors))

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
        errors.push(located.error(['agents', name, 'path'], `agent "${name}" overlaps agent "${other}": one request could match both`))
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
  }
}

const MIN_WINDOW_MS = 1_000
const MAX_WINDOW_MS = 86_400_000
const HTTP_METHOD = /^[A-Z]+$/

function compileRateLimits(
  raw: RawPackFile,
  auth: AcceptedMethod[],
  agents: CompiledAgent[],
  located: Located<RawPackFile>,
  errors: PolicyError[],
): CompiledRateLimit[] {
  const out: CompiledRateLimit[] = []
  const ids = new Set<string>()
  const agentNames = new Set(agents.map((a) => a.name))
  const list = (value: string | string[] | undefined): string[] | null => (value === undefined ? null : Array.isArray(value) ? value : [value])
  ;(raw.rate_limits ?? []).forEach((rule, i) => {
    const at = (...path: Path): Path => ['rate_limits', i, ...path]
    if (ids.has(rule.id)) errors.push(located.error(at('id'), `rate limit id "${rule.id}" is used twice in this pack`))
    ids.add(rule.id)
    const windowMs = parseDuration(rule.window)
    if (windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      errors.push(located.error(at('window'), 'a rate limit window is between 1s and 1d'))
    } else if (windowMs % 1000 !== 0) {
      errors.push(located.error(at('window'), 'a rate limit window is a whole number of seconds (RateLimit headers count in seconds)'))
    }
    if (rule.by === 'api_key' && !auth.includes('api_key')) {
      errors.push(located.error(at('by'), 'by: api_key counts API keys, but this pack does not accept them'))
    }
    if (rule.by === 'agent' && agents.length === 0) {
      errors.push(located.error(at('by'), 'by: agent counts per agent, but this pack has no agents'))
    }
    const methods = list(rule.when?.method)?.map((m) => m.toUpperCase()) ?? null
    methods?.forEach((method, j) => {
      if (!HTTP_METHOD.test(method)) errors.push(located.error(at('when', 'method', ...(Array.isArray(rule.when?.method) ? [j] : [])), `"${method}" is not an HTTP method`))
    })
    const whenAgents = list(rule.when?.agent)
    whenAgents?.forEach((name, j) => {
      if (!agentNames.has(name)) {
        errors.push(located.error(at('when', 'agent', ...(Array.isArray(rule.when?.agent) ? [j] : [])), `no agent is named "${name}" in this pack`))
      }
    })
    out.push({
      id: rule.id,
      by: rule.by as RateLimitKeySource,
      limit: rule.limit,
      windowMs,
      algorithm: rule.algorithm,
      when: { kinds: list(rule.when?.kind), methods, agents: whenAgents },
      onError: rule.on_error,
    })
  })
  return out
}

function compileRule(
  rule: RawRule,
  path: Path,
  located: Located<RawPackFile>,
  keyNames: Set<string>,
  errors: PolicyError[],
): CompiledRule {
  const ref = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
  const conditions: CompiledRule['conditions'] = []
  const entries = Object.entries(rule).filter(([, value]) => value !== undefined)
  if (entries.length === 0) errors.push(located.error(path, 'an empty rule would match everyone; write { kind: "*" } if that is meant'))
  for (const [field, value] of entries) {
    const known = (RULE_FIELDS as readonly string[]).includes(field)
    if (!known && !/^meta\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(field)) {
      errors.push(located.error([...path, field], `unknown rule field "${field}" (use ${RULE_FIELDS.join(', ')} or meta.<field>)`, true))
      continue
    }
    const values = (Array.isArray(value) ? value : [value]).map(String)
    if (field === 'api_key') {
      for (const name of values) {
        if (!name.includes('*') && !keyNames.has(name)) {
          errors.push(located.error([...path, field], `no API key is named "${name}" in ${GATEWAY_FILE}`))
        }
      }
    }
    conditions.push({ field: field as RuleField, patterns: values.map(compilePattern) })
  }
  return { ref, conditions }
}

function compilePattern(value: string): CompiledPattern {
  if (!value.includes('*')) return { exact: value }
  const source = value
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*')
  return { regex: `^${source}$` }
}

/** Two packs overlap when some request could be routed to both: refused, so order never matters. */
function checkRouteOverlaps(packs: CompiledPack[], origin: Map<string, Located<RawPackFile>>, errors: PolicyError[]): void {
  for (let i = 0; i < packs.length; i++) {
    for (let j = i + 1; j < packs.length; j++) {
      const a = packs[i] as CompiledPack
      const b = packs[j] as CompiledPack
      if (a.host !== null && b.host !== null && a.host !== b.host) continue
      const sa = pathSegments(a.pathPrefix || '/')
      const sb = pathSegments(b.pathPrefix || '/')
      const shorter = sa.length <= sb.length ? sa : sb
      const longer = shorter === sa ? sb : sa
      if (shorter.every((segment, k) => longer[k] === segment)) {
        const located = origin.get(b.id) as Located<RawPackFile>
        errors.push(located.error(['match'], `the route of pack "${b.id}" overlaps the route of pack "${a.id}"`))
      }
    }
  }
}

export type { RawFixture }
