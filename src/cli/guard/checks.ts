/**
 * The deploy guard's checks: what a careful reviewer would stop before the policies go live.
 * Pure: the policy files (compiled by the very compiler the build runs), the time, and the names
 * of the Worker's secrets (when wrangler could say) come in; a list of findings comes out.
 *
 * A finding either refuses the deploy or warns. Refusals are mistakes with no production use
 * (public demo keys, addresses a deployed Worker cannot or must not reach, plaintext where keys or
 * tokens travel, dead entries, a missing signing key). Warnings are choices the SPEC allows but a
 * reviewer wants to see at every deploy (report mode, forwarded credentials, the admin endpoint).
 *
 * @module
 */
import { basename } from 'node:path'
import { SIGNING_KEYS_SECRET } from '../../constants.ts'
import {
  compilePolicies,
  GATEWAY_FILE,
  type CompileInput,
  type LoadedFixture,
  type PolicyError,
  type SourceFile,
} from '../../policy/compiler/compile.ts'
import type { CompiledPack, CompiledPolicy } from '../../policy/types.ts'
import { classifyHost } from './addresses.ts'
import { PUBLIC_DEMO_KEYS } from './demo-keys.ts'
import { locator, type Locate } from './locate.ts'
import { httpAllowance, limitsAnonymous, namedSecrets } from './policy-facts.ts'

/** The names of the Worker's secrets, or why they could not be listed. */
export type SecretNames = { known: true; names: string[] } | { known: false; why: string }

export type FindingCode =
  | 'demo_key'
  | 'address'
  | 'ip_literal'
  | 'not_https'
  | 'http_upstream'
  | 'http_upstream_allowed'
  | 'expired'
  | 'expires_soon'
  | 'unused'
  | 'missing_secret'
  | 'half_store'
  | 'anonymous_unlimited'
  | 'report_mode'
  | 'pass_credentials'
  | 'admin_endpoint'
  | 'nonce_optional'
  | 'long_token_ttl'

export interface Finding {
  level: 'refuse' | 'warn'
  code: FindingCode
  /** `file:line` of the entry to change. */
  where: string
  message: string
}

export type GuardResult =
  | { ok: false; errors: PolicyError[] }
  | { ok: true; policy: CompiledPolicy; fixtures: LoadedFixture[]; findings: Finding[]; unchecked: string[] }

/** A key that expires within this time is worth a warning at deploy: someone should renew it. */
const EXPIRES_SOON_S = 7 * 86_400

/** Longest X-Invoker lifetime deployed without a warning: a lifted token replays for this long. */
const LONG_TOKEN_TTL_S = 300

/** Secrets that turn on the Upstash store only together (env.ts): one alone is a mistake. */
const UPSTASH_SECRETS = ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'] as const

const ADMIN_SECRET = 'GATEWAY_ADMIN_TOKEN'

export function runGuard(input: CompileInput, facts: { nowSeconds: number; secrets: SecretNames }): GuardResult {
  const compiled = compilePolicies(input)
  if (!compiled.ok) return { ok: false, errors: compiled.errors }
  const { policy } = compiled
  const gatewaySource = input.policies.find((f) => basename(f.path) === GATEWAY_FILE) as SourceFile
  const atGateway = locator(gatewaySource)
  const packSources = new Map(
    input.policies.filter((f) => f !== gatewaySource).map((f) => [basename(f.path).replace(/\.ya?ml$/, ''), f]),
  )
  const findings: Finding[] = []
  const unchecked: string[] = []
  const add = (level: Finding['level'], code: FindingCode, where: string, message: string): void => {
    findings.push({ level, code, where, message })
  }

  // Public demo keys, known by key id and hash (a new name does not make a published key secret).
  for (const record of Object.values(policy.apiKeys)) {
    const demo = PUBLIC_DEMO_KEYS.find((k) => k.keyId === record.keyId || k.sha256 === record.sha256)
    if (demo) {
      add(
        'refuse',
        'demo_key',
        atGateway(['api_keys', record.name]),
        `api_keys.${record.name} is a public demo key (its full text is in ${demo.where}): anyone can call with it. Remove it and mint your own with \`keys create\`.`,
      )
    }
  }

  const url = (text: string, where: string, role: string, scheme: 'https' | 'any'): void => {
    let parsed: URL
    try {
      parsed = new URL(text)
    } catch {
      return
    }
    const host = classifyHost(parsed.hostname)
    if (host.kind === 'refused')
      add('refuse', 'address', where, `${role} ${parsed.origin} is ${host.what}: a deployed gateway must not name it.`)
    else if (host.kind === 'public-ip')
      add(
        'warn',
        'ip_literal',
        where,
        `${role} ${parsed.origin} is an IP address: give it a DNS name (certificates are issued for names, and Workers subrequests are made to host names).`,
      )
    if (scheme === 'https' && parsed.protocol !== 'https:')
      add(
        'refuse',
        'not_https',
        where,
        `${role} ${parsed.origin} is not https: what travels there (keys, tokens, sessions) could be read or changed on the way.`,
      )
  }

  // The gateway's own issuer: the iss every backend checks, so it must be the public https URL.
  let issuerUrl: URL | null = null
  try {
    issuerUrl = new URL(policy.gateway.issuer)
  } catch {
    // not a URL: reported just below
  }
  if (issuerUrl?.protocol !== 'https:') {
    add(
      'refuse',
      'not_https',
      atGateway(['issuer']),
      `issuer "${policy.gateway.issuer}" is not an https URL: set it to the gateway's public URL (e.g. https://gateway.your-domain), which backends expect as iss.`,
    )
  }
  if (issuerUrl) url(policy.gateway.issuer, atGateway(['issuer']), 'issuer', 'any')

  for (const pack of policy.packs) {
    const source = packSources.get(pack.id)
    const at: Locate = source ? locator(source) : () => pack.id
    const allowance = source ? httpAllowance(source) : null
    url(pack.upstream, at(['upstream']), `pack ${pack.id}: upstream`, 'any')
    if (new URL(pack.upstream).protocol === 'http:') {
      if (allowance === null) {
        add(
          'refuse',
          'http_upstream',
          at(['upstream']),
          `pack ${pack.id}: upstream ${pack.upstream} is plain http: the request, its body and the X-Invoker token cross the network readable. Use https, or say why http is fine with allow_http_upstream: "<reason>".`,
        )
      } else {
        add(
          'warn',
          'http_upstream_allowed',
          at(['allow_http_upstream']),
          `pack ${pack.id}: plain http upstream allowed: ${allowance}`,
        )
      }
    }
    for (const [i, origin] of (pack.cors?.origins ?? []).entries())
      url(origin, at(['cors', 'origins', i]), `pack ${pack.id}: CORS origin`, 'https')
    if (pack.anonymous && !limitsAnonymous(pack)) {
      add(
        'refuse',
        'anonymous_unlimited',
        at(['anonymous']),
        `pack ${pack.id} admits anonymous callers without a rate limit: anyone can send the backend as much as they like. Add a rule that counts every anonymous request, e.g. { id: anon-ip, by: ip, when: { kind: anonymous }, limit: 60, window: 1m }.`,
      )
    }
    if (pack.mode === 'report')
      add(
        'warn',
        'report_mode',
        at(['mode']),
        `pack ${pack.id} is in report mode: requests its lists deny are logged (would_deny) and forwarded anyway.`,
      )
    if (pack.passCredentials)
      add(
        'warn',
        'pass_credentials',
        at(['pass_credentials']),
        `pack ${pack.id} forwards the caller's credential (Authorization, x-api-key) to its backend.`,
      )
  }

  for (const issuer of Object.values(policy.issuers)) {
    const at = (...path: string[]): string => atGateway(['issuers', issuer.name, ...path])
    url(issuer.issuer, at('issuer'), `issuers.${issuer.name}: issuer`, 'any')
    if (issuer.keys?.source === 'jwks_uri')
      url(issuer.keys.url, at('jwks_uri'), `issuers.${issuer.name}: jwks_uri`, 'https')
    if (issuer.introspection)
      url(
        issuer.introspection.endpoint,
        at('introspection', 'endpoint'),
        `issuers.${issuer.name}: introspection endpoint`,
        'https',
      )
  }
  if (policy.session?.verify.by === 'introspection') {
    url(
      policy.session.verify.endpoint,
      atGateway(['session', 'introspection', 'endpoint']),
      'session endpoint',
      'https',
    )
  }
  policy.keyDirectories.forEach((directory, i) => {
    url(directory.origin, atGateway(['key_directories', i, 'origin']), 'key directory', 'https')
  })

  // Keys already expired, or about to.
  for (const record of Object.values(policy.apiKeys)) {
    if (record.expiresAt === null) continue
    const when = new Date(record.expiresAt * 1000).toISOString()
    if (record.expiresAt <= facts.nowSeconds)
      add(
        'refuse',
        'expired',
        atGateway(['api_keys', record.name, 'expires']),
        `api_keys.${record.name} expired on ${when}: remove it (or renew it with a new key).`,
      )
    else if (record.expiresAt - facts.nowSeconds < EXPIRES_SOON_S)
      add(
        'warn',
        'expires_soon',
        atGateway(['api_keys', record.name, 'expires']),
        `api_keys.${record.name} expires on ${when}.`,
      )
  }
  policy.previousSigningKeys.forEach((key, i) => {
    if (key.untilSeconds <= facts.nowSeconds) {
      add(
        'refuse',
        'expired',
        atGateway(['previous_signing_keys', i]),
        `previous_signing_keys[${i}] (kid ${key.jwk['kid']}) was published until ${new Date(key.untilSeconds * 1000).toISOString()}: remove it.`,
      )
    }
  })

  // Names that nothing uses: a leftover, or a pack that forgot to name them.
  const packsWith = (method: CompiledPack['auth'][number]): CompiledPack[] =>
    policy.packs.filter((p) => p.auth.includes(method))
  const usedIssuers = new Set(packsWith('bearer').flatMap((p) => p.bearerIssuers))
  if (policy.session?.verify.by === 'jwt') usedIssuers.add(policy.session.verify.issuer)
  for (const name of Object.keys(policy.issuers)) {
    if (!usedIssuers.has(name))
      add(
        'refuse',
        'unused',
        atGateway(['issuers', name]),
        `issuers.${name} is used by no pack (no pack accepts bearer tokens from it, and the session does not verify with it): remove it or name it in a pack.`,
      )
  }
  const usedSigners = new Set(packsWith('envelope').flatMap((p) => p.envelope.signers))
  for (const name of Object.keys(policy.signers)) {
    if (!usedSigners.has(name))
      add(
        'refuse',
        'unused',
        atGateway(['signers', name]),
        `signers.${name} is used by no pack (no pack accepts signed requests from it): remove it or name it in a pack.`,
      )
  }
  const usedDirectories = new Set(packsWith('envelope').flatMap((p) => p.envelope.directories))
  policy.keyDirectories.forEach((directory, i) => {
    if (!usedDirectories.has(directory.origin))
      add(
        'refuse',
        'unused',
        atGateway(['key_directories', i]),
        `key directory ${directory.origin} is used by no pack: remove it or name it in a pack.`,
      )
  })
  if (policy.session && packsWith('session').length === 0)
    add(
      'refuse',
      'unused',
      atGateway(['session']),
      'session is used by no pack (no pack has session under auth): remove it or add session to a pack.',
    )
  const apiKeyPacks = packsWith('api_key').map((p) => p.id)
  for (const record of Object.values(policy.apiKeys)) {
    const usable = record.packs === null ? apiKeyPacks.length > 0 : record.packs.some((id) => apiKeyPacks.includes(id))
    if (!usable)
      add(
        'refuse',
        'unused',
        atGateway(['api_keys', record.name]),
        `api_keys.${record.name} can call no pack (${record.packs === null ? 'no pack accepts API keys' : `none of ${record.packs.join(', ')} accepts API keys`}): remove it.`,
      )
  }

  // The Worker's secrets, when wrangler could list them.
  const named = namedSecrets(policy)
  if (facts.secrets.known) {
    const has = new Set(facts.secrets.names)
    if (!has.has(SIGNING_KEYS_SECRET)) {
      add(
        'refuse',
        'missing_secret',
        'wrangler secrets',
        `${SIGNING_KEYS_SECRET} is not set: every request would be answered 503. Run \`npm run cli -- signing-keys generate | npx wrangler secret put ${SIGNING_KEYS_SECRET}\`.`,
      )
    }
    for (const { name, where, what } of named) {
      if (!has.has(name))
        add(
          'refuse',
          'missing_secret',
          atGateway(where),
          `${what} names the Worker secret ${name}, which is not set: \`npx wrangler secret put ${name}\`.`,
        )
    }
    const upstash = UPSTASH_SECRETS.filter((name) => has.has(name))
    if (upstash.length === 1) {
      const missing = UPSTASH_SECRETS.find((name) => !has.has(name)) as string
      add(
        'refuse',
        'half_store',
        'wrangler secrets',
        `${upstash[0]} is set but ${missing} is not: the gateway would quietly use the Durable Object store. Set both or neither.`,
      )
    }
    if (has.has(ADMIN_SECRET)) {
      add(
        'warn',
        'admin_endpoint',
        'wrangler secrets',
        `${ADMIN_SECRET} is set, so the admin endpoint (/.well-known/invoker-gateway/keys) is on. It has no rate limit of its own: its token must be long and random (openssl rand -base64 32).`,
      )
    }
  } else {
    const names = [SIGNING_KEYS_SECRET, ...named.map((s) => s.name)]
    unchecked.push(
      `the Worker's secrets (${[...new Set(names)].join(', ')}): ${facts.secrets.why}. Check with \`npx wrangler secret list\`.`,
    )
  }

  if (policy.gateway.tokenTtlSeconds > LONG_TOKEN_TTL_S) {
    add(
      'warn',
      'long_token_ttl',
      atGateway(['token_ttl']),
      `token_ttl is ${policy.gateway.tokenTtlSeconds}s: an X-Invoker token lifted from a backend's logs can be replayed (to the same method and URL) for that long.`,
    )
  }
  if (!policy.envelope.nonceRequired && packsWith('envelope').length > 0) {
    add(
      'warn',
      'nonce_optional',
      atGateway(['envelope', 'nonce']),
      'envelope.nonce is optional: a signed request without a nonce can be replayed for as long as its signature is valid.',
    )
  }

  findings.sort((a, b) => (a.level === b.level ? 0 : a.level === 'refuse' ? -1 : 1))
  return { ok: true, policy, fixtures: compiled.fixtures, findings, unchecked }
}
