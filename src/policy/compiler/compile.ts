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
import { COMPILED_POLICY_VERSION, type CompiledPack, type CompiledPolicy } from '../types.ts'
import { checkAcrossFiles, loadFixtures, type LoadedFixture } from './cross-file.ts'
import { compileApiKeys, compileIssuers, compileSession, compileSigners, signerInvoker } from './gateway-sections.ts'
import { applyIdNamespaces } from './id-namespaces.ts'
import { checkInvokerLimits } from './invoker-limits.ts'
import {
  baseName,
  GATEWAY_FILE,
  parseYaml,
  type Located,
  type Path,
  type PolicyError,
  type SourceFile,
} from './located.ts'
import { compilePack, type PackContext } from './pack.ts'
import { compilePreviousSigningKeys } from './previous-signing-keys.ts'
import { routeTable } from '../../pipeline/route/table.ts'
import { fixtureFile, gatewayFile, packFile, parseDuration, type RawFixture, type RawPackFile } from './schema.ts'
import { checkGatewayStreamSettings, checkStoreTimeoutForSlots } from './streams.ts'

export { errorAt, formatError, GATEWAY_FILE, type PolicyError, type SourceFile } from './located.ts'
export type { LoadedFixture, RawFixture }

export type CompileResult =
  | { ok: true; policy: CompiledPolicy; fixtures: LoadedFixture[] }
  | { ok: false; errors: PolicyError[] }

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
    return {
      ok: false,
      errors: [{ file: GATEWAY_FILE, line: 1, col: 1, message: 'the gateway-wide policy file is missing' }],
    }
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
  const keyDirectories = gateway.value.key_directories.map((d) => ({
    origin: d.origin,
    invoker: signerInvoker(d.invoker, d.origin),
  }))
  const reportAt = (path: Path, message: string): void => void errors.push(gateway.error(path, message))
  checkInvokerLimits(gateway.value, reportAt)
  checkGatewayStreamSettings(gateway.value, reportAt)
  const reservedUserPrefixes = applyIdNamespaces(
    { raw: gateway.value, apiKeys, issuers, session, signers, keyDirectories },
    reportAt,
  )
  const declared = {
    keyNames: new Set(Object.keys(gateway.value.api_keys)),
    issuers: new Set(Object.keys(gateway.value.issuers)),
    signers: new Set(Object.keys(gateway.value.signers)),
  }
  const context: PackContext = {
    keyNames,
    issuers,
    session,
    signers,
    directories: keyDirectories.map((d) => d.origin),
    env,
    declared,
    gatewayIssuer: gateway.value.issuer,
  }
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
  checkAcrossFiles({ gateway, issuers, packs: compiledPacks, packOrigin, declaredPacks }, errors)
  checkStoreTimeoutForSlots(gateway.value, compiledPacks, reportAt)
  if (errors.length > 0) return { ok: false, errors }
  const fixtures = loadFixtures(fixtureDocs, keyNames, signers, errors)
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
        directoryStaleMs: parseDuration(settings.envelope.directory_stale),
        reservedUserPrefixes,
      },
      packs: compiledPacks,
      previousSigningKeys,
      routes: routeTable(compiledPacks),
    },
  }
}
