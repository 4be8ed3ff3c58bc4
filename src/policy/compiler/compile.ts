/**
 * Compiles the YAML policy files into a {@link CompiledPolicy}. Pure: files and the build
 * environment come in, a policy or a list of `file:line:col` errors comes out, so the CLI,
 * the build step and the tests all run the same code.
 *
 * Everything that can be decided once is decided here: defaults, durations, globs split into
 * their literal segments, path prefixes normalized, agent patterns parsed and checked for
 * overlap, API key references resolved.
 *
 * @module
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { z } from 'zod'
import { DEFAULT_LOCAL_FRACTION } from '../../constants.ts'
import type { JsonValue } from '../../invoker.ts'
import {
  COMPILED_POLICY_VERSION,
  type AcceptedMethod,
  type ApiKeyRecord,
  type CompiledAgent,
  type CompiledPack,
  type CompiledPattern,
  type CompiledPolicy,
  type ClaimMapping,
  type CompiledCors,
  type CompiledIssuer,
  type CompiledRateLimit,
  type CompiledRule,
  type CompiledSession,
  type CompiledSigner,
  type SignerInvoker,
  type RateLimitKeySource,
  type RuleField,
} from '../types.ts'
import { normalizePath, pathSegments } from '../../pipeline/route/normalize-path.ts'
import { compileEdgeSettings } from './edge.ts'
import { addMcpAudiences, compileMcp, mcpMetadataClash } from './mcp.ts'
import { checkGatewayStreamSettings, compileStreamSections } from './streams.ts'
import { parsePathPattern, patternsOverlap } from '../../pipeline/route/path-pattern.ts'
import { hostsOverlap } from '../../pipeline/route/match.ts'
import { routeTable } from '../../pipeline/route/table.ts'
import { canonicalHost } from './hosts.ts'
import { compileGlob } from '../glob.ts'
import { applyIdNamespaces } from './id-namespaces.ts'
import { checkInvokerLimits } from './invoker-limits.ts'
import { didYouMean, schemaProblems, yamlErrors } from './messages.ts'
import {
  fixtureFile,
  gatewayFile,
  packFile,
  parseDuration,
  RULE_FIELDS,
  type RawClaimMapping,
  type RawFixture,
  type RawGatewayFile,
  type RawPackFile,
  type RawRule,
  type RawSigner,
} from './schema.ts'
import { compilePreviousSigningKeys } from './previous-signing-keys.ts'
import type { PolicyError } from './policy-error.ts'

export interface SourceFile {
  /** Path as it should appear in messages, e.g. `policies/echo.yaml`. */
  path: string
  text: string
}

// In its own module so that the compiler's sections can name it without importing this driver.
export type { PolicyError }

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
    // In the gateway's words (messages.ts): which line is off, and how.
    for (const e of yamlErrors(doc.errors, file.text, lines)) errors.push({ file: file.path, ...e })
    return null
  }
  const raw: unknown = doc.toJS()
  const parsed = schema.safeParse(raw)
  const located = new Located(file.path, doc, lines, parsed.success ? parsed.data : (undefined as T))
  if (!parsed.success) {
    for (const problem of schemaProblems(parsed.error.issues, raw, schema)) errors.push(located.error(problem.path, problem.message, problem.onKey))
    return null
  }
  return located
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
  const issuers = compileIssuers(gateway, errors)
  const session = compileSession(gateway, issuers, errors)
  const signers = compileSigners(gateway, errors)
  const previousSigningKeys = compilePreviousSigningKeys(gateway, errors)
  const keyDirectories = gateway.value.key_directories.map((d) => ({ origin: d.origin, invoker: signerInvoker(d.invoker, d.origin) }))
  const reportAt = (path: Path, message: string): void => void errors.push(gateway.error(path, message))
  checkInvokerLimits(gateway.value, reportAt)
  checkGatewayStreamSettings(gateway.value, reportAt)
  const reservedUserPrefixes = applyIdNamespaces({ raw: gateway.value, apiKeys, issuers, session, signers, directories: keyDirectories }, reportAt)
  const declared = {
    keyNames: new Set(Object.keys(gateway.value.api_keys)),
    issuers: new Set(Object.keys(gateway.value.issuers)),
    signers: new Set(Object.keys(gateway.value.signers)),
  }
  const context: PackContext = { keyNames, issuers, session, signers, directories: keyDirectories.map((d) => d.origin), env, declared, gatewayIssuer: gateway.value.issuer }
  const compiledPacks: CompiledPack[] = []
  const packOrigin = new Map<string, Located<RawPackFile>>()
  // Every pack a file defines, compiled or not: a key naming a broken pack is not a second error.
  const declaredPacks = new Set<string>()
  for (const located of packs) {
    if (!located) continue
    declaredPacks.add(located.value.pack).add(baseName(located.file).replace(/\.ya?ml$/, ''))
    const pack = compilePack(located, context, errors)
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
  const metadataClash = mcpMetadataClash(compiledPacks)
  if (metadataClash) {
    errors.push((packOrigin.get(metadataClash.pack.id) as Located<RawPackFile>).error(['protocol'], `pack "${metadataClash.pack.id}" has the resource of pack "${metadataClash.other.id}": one metadata URL cannot describe both`))
  }
  for (const name of addMcpAudiences(compiledPacks, issuers)) {
    errors.push(gateway.error(['issuers', name], 'an issuer needs an audience (or an MCP pack that accepts its tokens)'))
  }
  const packIds = new Set(compiledPacks.map((p) => p.id))
  for (const [name, key] of Object.entries(gateway.value.api_keys)) {
    key.packs?.forEach((id, i) => {
      if (!declaredPacks.has(id)) errors.push(gateway.error(['api_keys', name, 'packs', i], `no pack is named "${id}"${didYouMean(id, declaredPacks)}`))
    })
  }
  if (errors.length > 0) return { ok: false, errors }

  const fixtures: LoadedFixture[] = []
  for (const doc of fixtureDocs) {
    if (!doc) continue
    doc.value.forEach((fixture, i) => {
      const { line } = doc.lines.linePos(rangeStart((doc.doc.contents as { items?: unknown[] } | null)?.items?.[i]) ?? 0)
      if ('api_key' in fixture.invoker && !keyNames.has(fixture.invoker.api_key)) {
        errors.push(doc.error([i, 'invoker', 'api_key'], `no API key is named "${fixture.invoker.api_key}"${didYouMean(fixture.invoker.api_key, keyNames)}`))
      }
      if ('signer' in fixture.invoker && !(fixture.invoker.signer in signers)) {
        errors.push(doc.error([i, 'invoker', 'signer'], `no signer is named "${fixture.invoker.signer}" in ${GATEWAY_FILE}${didYouMean(fixture.invoker.signer, Object.keys(signers))}`))
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
        uploadIdleTimeoutMs: parseDuration(settings.upload_idle_timeout),
        concurrencyLeaseMs: parseDuration(settings.concurrency_lease),
      },
      apiKeys,
      issuers,
      session,
      signers,
      keyDirectories,
      envelope: {
        maxAgeSeconds: Math.round(parseDuration(settings.envelope.max_age) / 1000),
        clockSkewSeconds: Math.round(parseDuration(settings.envelope.clock_skew) / 1000),
        nonceRequired: settings.envelope.nonce === 'required',
        delegationHeader: settings.envelope.delegation_header.toLowerCase(),
        directoryTimeoutMs: parseDuration(settings.envelope.directory_timeout),
        directoryCacheMs: parseDuration(settings.envelope.directory_cache),
        reservedUserPrefixes,
      },
      packs: compiledPacks,
      previousSigningKeys,
      routes: routeTable(compiledPacks),
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

interface PackContext {
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

function compilePack(located: Located<RawPackFile>, context: PackContext, errors: PolicyError[]): CompiledPack | null {
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
    errors.push(located.error(['match', 'path_prefix'], 'path_prefix is a normalized path starting with "/" (no dot segments, "//" or escapes)'))
  }
  const host = raw.match.host?.toLowerCase() ?? null
  if (host !== null && !/^[a-z0-9.-]+(:\d+)?$/.test(host)) {
    errors.push(located.error(['match', 'host'], 'host is a host name, optionally with a port'))
  } else if (host !== null && canonicalHost(host) !== host) {
    // The matcher compares with the request URL's host, which is always spelled canonically.
    const canonical = canonicalHost(host)
    errors.push(located.error(['match', 'host'], `write the host as URLs spell it${canonical ? `: ${canonical}` : ' (a port is 1 to 65535)'}`))
  }

  const auth: AcceptedMethod[] = []
  raw.auth.forEach((method, i) => {
    if (auth.includes(method)) {
      errors.push(located.error(['auth', i], `auth method "${method}" is listed twice`))
    } else auth.push(method)
  })
  if (auth.length === 0 && raw.anonymous === 'deny') {
    errors.push(located.error(['auth'], 'the pack accepts no auth method and denies anonymous callers: nobody could call it'))
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
  const bearerIssuers = compileBearerIssuers(raw, auth, context, located, errors)
  if (auth.includes('session') && context.session === null) {
    errors.push(located.error(['auth'], `auth: session needs a session section in ${GATEWAY_FILE} (which cookie, how to verify it)`))
  }
  const scopes = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : value.split(' ').filter(Boolean))
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

function compileEnvelopePack(raw: RawPackFile, auth: AcceptedMethod[], context: PackContext, located: Located<RawPackFile>, errors: PolicyError[]): CompiledPack['envelope'] {
  const none = { signers: [], directories: [], cover: [] }
  if (!auth.includes('envelope')) {
    if (raw.envelope !== undefined) errors.push(located.error(['envelope'], 'envelope settings on a pack that does not accept signed requests (add envelope to auth)', true))
    return none
  }
  const signers = raw.envelope?.signers ?? Object.keys(context.signers)
  signers.forEach((name, i) => {
    if (!context.declared.signers.has(name)) errors.push(located.error(['envelope', 'signers', i], `no signer is named "${name}" in ${GATEWAY_FILE}${didYouMean(name, context.declared.signers)}`))
  })
  const directories = raw.envelope?.directories ?? context.directories
  directories.forEach((origin, i) => {
    if (!context.directories.includes(origin)) errors.push(located.error(['envelope', 'directories', i], `"${origin}" is not under key_directories in ${GATEWAY_FILE}`))
  })
  if (signers.length === 0 && directories.length === 0 && context.declared.signers.size === 0) {
    errors.push(located.error(['auth'], `auth: envelope needs a signer or a key directory in ${GATEWAY_FILE}`))
  }
  const cover = raw.envelope?.cover ?? []
  cover.forEach((component, i) => {
    if (!isComponentIdentifier(component)) {
      errors.push(located.error(['envelope', 'cover', i], 'a component is a lower-case field name or a derived component (@method, @target-uri, @authority, @scheme, @request-target, @path, @query, @query-param;name=…)'))
    }
  })
  return { signers, directories, cover }
}

const DERIVED_COMPONENTS = new Set(['@method', '@target-uri', '@authority', '@scheme', '@request-target', '@path', '@query'])

function isComponentIdentifier(text: string): boolean {
  if (DERIVED_COMPONENTS.has(text)) return true
  if (/^@query-param;name=[^;]+$/.test(text)) return true
  return /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(text)
}

function signerInvoker(raw: RawSigner['invoker'], defaultId: string): SignerInvoker {
  return { id: raw.id ?? defaultId, kind: raw.kind, ...(raw.label !== undefined ? { label: raw.label } : {}), meta: raw.meta as Record<string, JsonValue> }
}

function compileSigners(gateway: Located<RawGatewayFile>, errors: PolicyError[]): Record<string, CompiledSigner> {
  const out: Record<string, CompiledSigner> = {}
  const byKeyId = new Map<string, string>()
  for (const [name, raw] of Object.entries(gateway.value.signers)) {
    const at = (...path: Path): Path => ['signers', name, ...path]
    const before = errors.length
    const clash = byKeyId.get(raw.keyid)
    if (clash) errors.push(gateway.error(at('keyid'), `keyid "${raw.keyid}" is already used by signer "${clash}"`))
    byKeyId.set(raw.keyid, name)
    if (raw.algorithm === 'hmac-sha256') {
      if (raw.secret === undefined) errors.push(gateway.error(at('algorithm'), 'hmac-sha256 needs secret: NAME (a Worker secret holding the key)'))
      if (raw.jwk !== undefined) errors.push(gateway.error(at('jwk'), 'an HMAC signer has a secret, not a jwk', true))
    } else {
      if (raw.secret !== undefined) errors.push(gateway.error(at('secret'), `${raw.algorithm} verifies with a public key (jwk), not a secret`, true))
      if (raw.jwk === undefined) errors.push(gateway.error(at('algorithm'), `${raw.algorithm} needs the signer's public key under jwk`))
      else {
        const problem = jwkProblem(raw.jwk, raw.algorithm)
        if (problem) errors.push(gateway.error(at('jwk'), problem))
      }
    }
    if (errors.length > before) continue
    out[name] = {
      name,
      keyId: raw.keyid,
      algorithm: raw.algorithm,
      jwk: (raw.jwk as Record<string, JsonValue> | undefined) ?? null,
      secretName: raw.secret ?? null,
      delegate: raw.delegate,
      delegatedIdPrefix: raw.delegate ? (raw.id_prefix ?? `${raw.invoker.id ?? `signer:${name}`}:`) : null,
      invoker: signerInvoker(raw.invoker, `signer:${name}`),
    }
  }
  return out
}

/** A public key of the type the algorithm needs, without private members. */
function jwkProblem(jwk: Record<string, unknown>, algorithm: string): string | null {
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) return 'jwk is a public key: remove the private or symmetric members (d, p, k)'
  const expected: Record<string, [string, string | null]> = {
    ed25519: ['OKP', 'Ed25519'],
    'ecdsa-p256-sha256': ['EC', 'P-256'],
    'rsa-pss-sha512': ['RSA', null],
    'rsa-v1_5-sha256': ['RSA', null],
  }
  const [kty, crv] = expected[algorithm] as [string, string | null]
  if (jwk['kty'] !== kty || (crv !== null && jwk['crv'] !== crv)) return `${algorithm} needs a ${kty}${crv ? ` ${crv}` : ''} key`
  return null
}

function compileBearerIssuers(raw: RawPackFile, auth: AcceptedMethod[], context: PackContext, located: Located<RawPackFile>, errors: PolicyError[]): string[] {
  const all = Object.keys(context.issuers)
  if (!auth.includes('bearer')) {
    if (raw.bearer !== undefined) errors.push(located.error(['bearer'], 'bearer settings on a pack that does not accept bearer tokens (add bearer to auth)', true))
    return []
  }
  if (all.length === 0) {
    if (context.declared.issuers.size === 0) errors.push(located.error(['auth'], `auth: bearer needs at least one entry under issuers in ${GATEWAY_FILE}`))
    return []
  }
  const named = raw.bearer?.issuers ?? all
  named.forEach((name, i) => {
    if (!context.declared.issuers.has(name)) errors.push(located.error(['bearer', 'issuers', i], `no issuer is named "${name}" in ${GATEWAY_FILE}${didYouMean(name, context.declared.issuers)}`))
  })
  // An opaque token names no issuer; it goes to the one introspection endpoint the pack trusts,
  // never to several (that would hand one provider's tokens to another).
  const introspecting = named.filter((name) => context.issuers[name]?.introspection)
  if (introspecting.length > 1) {
    errors.push(
      located.error(raw.bearer?.issuers ? ['bearer', 'issuers'] : ['auth'], `the pack would accept opaque tokens from ${introspecting.join(' and ')}: name at most one issuer with introspection under bearer.issuers`),
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

const HMAC_ALGORITHMS = new Set(['HS256', 'HS384', 'HS512'])

function httpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password && !url.hash
  } catch {
    return false
  }
}

function compileClaims(raw: RawClaimMapping, defaults: { id: string[]; kind: string; label?: string; email?: string }): ClaimMapping {
  const path = (claim: string): string[] => claim.split('.')
  const ids = raw.id === undefined ? defaults.id : Array.isArray(raw.id) ? raw.id : [raw.id]
  const label = raw.label ?? defaults.label
  const email = raw.email ?? defaults.email
  return {
    id: ids.map(path),
    idPrefix: raw.id_prefix,
    // Filled once the signers' namespaces are known (id-namespaces.ts).
    reservedIdPrefixes: [],
    kind: raw.kind ?? defaults.kind,
    label: label === undefined ? null : path(label),
    email: email === undefined ? null : path(email),
    meta: Object.entries(raw.meta).map(([field, claim]) => ({ field, path: path(claim) })),
  }
}

function compileIssuers(gateway: Located<RawGatewayFile>, errors: PolicyError[]): Record<string, CompiledIssuer> {
  const out: Record<string, CompiledIssuer> = {}
  const byIss = new Map<string, string>()
  for (const [name, raw] of Object.entries(gateway.value.issuers)) {
    const at = (...path: Path): Path => ['issuers', name, ...path]
    const before = errors.length
    const clash = byIss.get(raw.issuer)
    if (clash) errors.push(gateway.error(at('issuer'), `issuer "${raw.issuer}" is already configured as "${clash}": a token's iss must pick one configuration`))
    byIss.set(raw.issuer, name)
    const sources = (['jwks_uri', 'jwks', 'secret'] as const).filter((key) => raw[key] !== undefined)
    if (sources.length > 1) errors.push(gateway.error(at(sources[1] as string), `an issuer has one key source; this one names ${sources.join(' and ')}`, true))
    if (sources.length === 0 && !raw.introspection) errors.push(gateway.error(at(), 'an issuer needs a key source (jwks_uri, jwks or secret) or introspection'))
    const hmac = raw.algorithms.filter((alg) => HMAC_ALGORITHMS.has(alg))
    if (raw.secret !== undefined && hmac.length !== raw.algorithms.length) {
      errors.push(gateway.error(at('algorithms'), 'a shared secret verifies only HS256, HS384 or HS512'))
    }
    if (raw.secret === undefined && hmac.length > 0) {
      // The classic confusion: a public key used as an HMAC secret. Only a secret may verify HS*.
      errors.push(gateway.error(at('algorithms'), `${hmac.join(', ')} needs a shared secret (secret: NAME); public keys never verify HMAC`))
    }
    if (raw.jwks_uri !== undefined && !httpUrl(raw.jwks_uri)) errors.push(gateway.error(at('jwks_uri'), 'jwks_uri is an http(s) URL'))
    raw.jwks?.keys.forEach((key, i) => {
      if ('d' in key || 'k' in key || 'p' in key) errors.push(gateway.error(at('jwks', 'keys', i), 'inline keys are public keys: remove the private or symmetric members (d, p, k)'))
      if (typeof key['kty'] !== 'string') errors.push(gateway.error(at('jwks', 'keys', i), 'a JWK needs kty'))
    })
    if (raw.introspection && !httpUrl(raw.introspection.endpoint)) errors.push(gateway.error(at('introspection', 'endpoint'), 'the introspection endpoint is an http(s) URL'))
    if (errors.length > before) continue
    const cache = raw.jwks_cache
    out[name] = {
      name,
      issuer: raw.issuer,
      audiences: raw.audience === undefined ? [] : Array.isArray(raw.audience) ? [...raw.audience] : [raw.audience],
      algorithms: raw.algorithms,
      typ: raw.typ ?? null,
      clockToleranceSeconds: Math.round(parseDuration(raw.clock_tolerance) / 1000),
      maxTokenAgeSeconds: raw.max_token_age === undefined ? null : Math.round(parseDuration(raw.max_token_age) / 1000),
      keys:
        raw.jwks_uri !== undefined
          ? {
              source: 'jwks_uri',
              url: raw.jwks_uri,
              maxAgeMs: parseDuration(cache.max_age),
              cooldownMs: parseDuration(cache.cooldown),
              staleMs: parseDuration(cache.stale),
              timeoutMs: parseDuration(cache.timeout),
            }
          : raw.jwks !== undefined
            ? { source: 'jwks', jwks: raw.jwks as { keys: Array<Record<string, JsonValue>> } }
            : raw.secret !== undefined
              ? { source: 'secret', secretName: raw.secret }
              : null,
      introspection: raw.introspection
        ? {
            endpoint: raw.introspection.endpoint,
            clientId: raw.introspection.client_id,
            clientSecretName: raw.introspection.client_secret,
            cacheTtlMs: parseDuration(raw.introspection.cache_ttl),
            negativeTtlMs: parseDuration(raw.introspection.negative_ttl),
            timeoutMs: parseDuration(raw.introspection.timeout),
          }
        : null,
      claims: compileClaims(raw.claims, { id: ['sub', 'client_id'], kind: 'service' }),
      mcpResources: [],
    }
  }
  return out
}

function compileSession(gateway: Located<RawGatewayFile>, issuers: Record<string, CompiledIssuer>, errors: PolicyError[]): CompiledSession | null {
  const raw = gateway.value.session
  if (!raw) return null
  if ((raw.jwt === undefined) === (raw.introspection === undefined)) {
    errors.push(gateway.error(['session'], 'a session is verified one way: give either jwt or introspection'))
    return null
  }
  if (raw.jwt) {
    if (!(raw.jwt.issuer in issuers)) {
      // An issuer that is there but failed has its own error.
      const declared = Object.keys(gateway.value.issuers)
      if (!declared.includes(raw.jwt.issuer)) errors.push(gateway.error(['session', 'jwt', 'issuer'], `no issuer is named "${raw.jwt.issuer}" under issuers${didYouMean(raw.jwt.issuer, declared)}`))
      return null
    }
    // The issuer's own claim mapping, but a cookie stands for a signed-in user unless it says otherwise.
    const claims = compileClaims(gateway.value.issuers[raw.jwt.issuer]?.claims ?? { id_prefix: '', meta: {} }, { id: ['sub'], kind: 'authUser' })
    return { cookies: raw.cookies, verify: { by: 'jwt', issuer: raw.jwt.issuer, claims } }
  }
  const introspection = raw.introspection as NonNullable<typeof raw.introspection>
  if (!httpUrl(introspection.endpoint)) {
    errors.push(gateway.error(['session', 'introspection', 'endpoint'], 'the session endpoint is an http(s) URL'))
    return null
  }
  return {
    cookies: raw.cookies,
    verify: {
      by: 'introspection',
      endpoint: introspection.endpoint,
      cacheTtlMs: parseDuration(introspection.cache_ttl),
      negativeTtlMs: parseDuration(introspection.negative_ttl),
      timeoutMs: parseDuration(introspection.timeout),
      // Better Auth's get-session answer: { session: {...}, user: { id, email, name, ... } }.
      claims: compileClaims(introspection.claims, { id: ['user.id'], kind: 'authUser', label: 'user.name', email: 'user.email' }),
    },
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
    if ((rule.by === 'tool' || rule.when?.tool !== undefined) && raw.protocol !== 'mcp') {
      errors.push(located.error(at(rule.by === 'tool' ? 'by' : 'when'), 'tools are known on MCP packs only (protocol: mcp)'))
    }
    const whenAgents = list(rule.when?.agent)
    whenAgents?.forEach((name, j) => {
      if (!agentNames.has(name)) {
        errors.push(located.error(at('when', 'agent', ...(Array.isArray(rule.when?.agent) ? [j] : [])), `no agent is named "${name}" in this pack${didYouMean(name, agentNames)}`))
      }
    })
    if (rule.local_fraction !== undefined && rule.on_error !== 'local') {
      errors.push(located.error(at('local_fraction'), 'local_fraction applies only with on_error: local'))
    }
    out.push({
      id: rule.id,
      by: rule.by as RateLimitKeySource,
      limit: rule.limit,
      windowMs,
      algorithm: rule.algorithm,
      when: { kinds: list(rule.when?.kind), methods, agents: whenAgents, tools: list(rule.when?.tool)?.map((tool) => compilePattern(tool, false)) },
      onError: rule.on_error,
      localLimit: Math.max(1, Math.floor(rule.limit * (rule.local_fraction ?? DEFAULT_LOCAL_FRACTION))),
    })
  })
  return out
}

function compileRule(
  rule: RawRule,
  path: Path,
  located: Located<RawPackFile>,
  declaredKeyNames: ReadonlySet<string>,
  errors: PolicyError[],
): CompiledRule {
  const ref = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
  const conditions: CompiledRule['conditions'] = []
  const entries = Object.entries(rule).filter(([, value]) => value !== undefined)
  if (entries.length === 0) errors.push(located.error(path, 'an empty rule would match everyone; write { kind: "*" } if that is meant'))
  for (const [field, value] of entries) {
    const known = (RULE_FIELDS as readonly string[]).includes(field)
    if (!known && !/^meta\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(field)) {
      const hint = didYouMean(field, RULE_FIELDS) || ` (use ${RULE_FIELDS.join(', ')} or meta.<field>)`
      errors.push(located.error([...path, field], `unknown rule field "${field}"${hint}`, true))
      continue
    }
    const values = (Array.isArray(value) ? value : [value]).map(String)
    if (field === 'api_key') {
      for (const name of values) {
        if (!name.includes('*') && !declaredKeyNames.has(name)) {
          errors.push(located.error([...path, field], `no API key is named "${name}" in ${GATEWAY_FILE}${didYouMean(name, declaredKeyNames)}`))
        }
      }
    }
    const foldCase = field === 'email' || field === 'method'
    conditions.push({ field: field as RuleField, patterns: values.map((v) => compilePattern(v, foldCase)) })
  }
  return { ref, conditions }
}

/** Exact, or a glob split on `*`: no regular expression is built from policy text (issue 12, item 2). */
function compilePattern(value: string, foldCase: boolean): CompiledPattern {
  const text = foldCase ? value.toLowerCase() : value
  const glob = compileGlob(text)
  return glob === null ? { exact: text } : { glob }
}

/** Two packs overlap when some request could be routed to both: refused, so order never matters. */
function checkRouteOverlaps(packs: CompiledPack[], origin: Map<string, Located<RawPackFile>>, errors: PolicyError[]): void {
  for (let i = 0; i < packs.length; i++) {
    for (let j = i + 1; j < packs.length; j++) {
      const a = packs[i] as CompiledPack
      const b = packs[j] as CompiledPack
      // As the run-time matcher compares: `example.com` also answers `example.com:8787`.
      if (a.host !== null && b.host !== null && !hostsOverlap(a.host, b.host)) continue
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

/** An error at a path inside a policy file, for checks that run after compiling (key imports). */
export function errorAt(file: SourceFile, path: Path, message: string): PolicyError {
  const lines = new LineCounter()
  const doc = parseDocument(file.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  return new Located(file.path, doc, lines, undefined).error(path, message)
}
