/**
 * The deploy guard on fixture policies, through the real compiler: a clean production policy set
 * passes with nothing to say, and each test changes one thing and expects exactly its refusal.
 */
import { describe, expect, it } from 'vitest'
import { runGuard, type Finding, type SecretNames } from '../../src/cli/guard/checks.ts'
import type { CompileInput } from '../../src/policy/compiler/compile.ts'

const NOW = Math.floor(Date.UTC(2026, 11, 1) / 1000)
const SECRETS: SecretNames = { known: true, names: ['INVOKER_SIGNING_KEYS'] }
const ED25519_X = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'

const GATEWAY = `
issuer: https://gateway.acme-corp.dev
api_keys:
  ci-bot:
    key_id: "Ab12Cd34"
    sha256: "${'a'.repeat(64)}"
    packs: [crm]
issuers:
  corp-idp:
    issuer: https://idp.acme-corp.dev
    jwks_uri: https://idp.acme-corp.dev/jwks
    audience: https://agents.acme-corp.dev
    algorithms: [RS256]
signers:
  chat-host:
    keyid: chat-host-1
    algorithm: ed25519
    jwk: { kty: OKP, crv: Ed25519, x: "${ED25519_X}" }
`

const CRM = `
pack: crm
upstream: https://crm.acme-corp.dev/api
match: { path_prefix: /packs/crm }
auth: [api_key, bearer, envelope]
`

const PUBLIC = `
pack: public
upstream: https://public.acme-corp.dev
match: { path_prefix: /packs/public }
anonymous: allow
rate_limits:
  - { id: anon-ip, by: ip, when: { kind: anonymous }, limit: 60, window: 1m }
`

interface Files {
  gateway?: string
  crm?: string
  public?: string
  extra?: Record<string, string>
}

function guard(files: Files = {}, secrets: SecretNames = SECRETS, nowSeconds = NOW): Finding[] {
  const input: CompileInput = {
    policies: [
      { path: 'policies/_gateway.yaml', text: files.gateway ?? GATEWAY },
      { path: 'policies/crm.yaml', text: files.crm ?? CRM },
      { path: 'policies/public.yaml', text: files.public ?? PUBLIC },
      ...Object.entries(files.extra ?? {}).map(([id, text]) => ({ path: `policies/${id}.yaml`, text })),
    ],
    env: {},
  }
  const result = runGuard(input, { nowSeconds, secrets })
  if (!result.ok) throw new Error(JSON.stringify(result.errors))
  return result.findings
}

const refusals = (findings: Finding[]): Finding[] => findings.filter((f) => f.level === 'refuse')
const codes = (findings: Finding[]): string[] => [...new Set(findings.map((f) => `${f.level}:${f.code}`))].sort()

describe('deploy guard', () => {
  it('passes a clean production policy set with nothing to say', () => {
    expect(guard()).toEqual([])
  })

  it('refuses the public demo keys, known by key id or hash whatever their name', () => {
    const byKeyId = GATEWAY.replace('"Ab12Cd34"', '"qG4an6Js"').replace('ci-bot:', 'alice:')
    const byHash = GATEWAY.replace('a'.repeat(64), 'ab57701394e5b9e803a07d4f7796c5ec3e6a1f3837b18619bc9c7a50f98db1b2')
    for (const gateway of [byKeyId, byHash]) {
      const found = guard({ gateway })
      expect(codes(found)).toEqual(['refuse:demo_key'])
      expect(found[0]?.where).toBe('policies/_gateway.yaml:4')
      expect(found[0]?.message).toContain('public demo key')
    }
  })

  it.each([
    [
      'a loopback upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://127.0.0.1:8788') },
      'loopback address',
    ],
    [
      'a loopback upstream in another spelling',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://2130706433') },
      'loopback address',
    ],
    [
      'an IPv6 loopback upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://[::1]:8443') },
      'loopback address',
    ],
    [
      'an IPv4-mapped IPv6 upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://[::ffff:192.168.1.10]') },
      'private address (RFC 1918)',
    ],
    [
      'a private upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://10.0.3.7') },
      'private address (RFC 1918)',
    ],
    [
      'a unique-local IPv6 upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://[fd12:3456::7]') },
      'unique-local',
    ],
    [
      'a link-local upstream (cloud metadata)',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://169.254.169.254') },
      'link-local',
    ],
    [
      'a localhost upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://localhost:3000') },
      'loopback name',
    ],
    [
      'a docker-compose name as upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://backend:8080') },
      'single-label name',
    ],
    [
      'an .internal upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://crm.internal') },
      '.internal',
    ],
    [
      'a placeholder upstream',
      { crm: CRM.replace('https://crm.acme-corp.dev/api', 'https://crm.internal.example.com') },
      'documentation placeholder',
    ],
    [
      'a loopback issuer',
      { gateway: GATEWAY.replace('issuer: https://gateway.acme-corp.dev', 'issuer: https://localhost:8787') },
      'loopback name',
    ],
    [
      'a private jwks_uri',
      { gateway: GATEWAY.replace('https://idp.acme-corp.dev/jwks', 'https://192.168.0.10/jwks') },
      'private address',
    ],
    ['a loopback CORS origin', { crm: CRM + 'cors: { origins: ["https://localhost:3000"] }\n' }, 'loopback name'],
  ])('refuses %s', (_, files, what) => {
    const found = refusals(guard(files))
    expect(codes(found)).toEqual(['refuse:address'])
    expect(found[0]?.message).toContain(what)
  })

  it('refuses plain http where keys, tokens or sessions travel, and a gateway issuer that is not https', () => {
    const cases: Files[] = [
      { gateway: GATEWAY.replace('issuer: https://gateway.acme-corp.dev', 'issuer: http://gateway.acme-corp.dev') },
      { gateway: GATEWAY.replace('issuer: https://gateway.acme-corp.dev', 'issuer: acme-gateway') },
      { gateway: GATEWAY.replace('https://idp.acme-corp.dev/jwks', 'http://idp.acme-corp.dev/jwks') },
      { crm: CRM + 'cors: { origins: ["http://app.acme-corp.dev"] }\n' },
    ]
    for (const files of cases) expect(codes(guard(files)), JSON.stringify(files)).toEqual(['refuse:not_https'])
  })

  it('refuses an http: upstream unless the pack says why, and then lists the reason', () => {
    const http = CRM.replace('https://crm.acme-corp.dev/api', 'http://crm.acme-corp.dev/api')
    const refused = guard({ crm: http })
    expect(codes(refused)).toEqual(['refuse:http_upstream'])
    expect(refused[0]?.where).toBe('policies/crm.yaml:3')
    const allowed = guard({
      crm: http + 'allow_http_upstream: "reached through Cloudflare Tunnel, which encrypts the hop"\n',
    })
    expect(codes(allowed)).toEqual(['warn:http_upstream_allowed'])
    expect(allowed[0]?.message).toContain('Cloudflare Tunnel')
  })

  it('refuses keys already expired (API keys and previous signing keys), and warns of one about to', () => {
    const expired = guard({ gateway: GATEWAY.replace('packs: [crm]', 'packs: [crm]\n    expires: 2026-11-30') })
    expect(codes(expired)).toEqual(['refuse:expired'])
    expect(expired[0]?.message).toContain('api_keys.ci-bot expired on 2026-11-30')
    const previous = `previous_signing_keys:\n  - until: 2026-11-15\n    jwk: { kty: OKP, crv: Ed25519, x: "${ED25519_X}", kid: old, alg: EdDSA }\n`
    expect(codes(guard({ gateway: GATEWAY + previous }))).toEqual(['refuse:expired'])
    expect(guard({ gateway: GATEWAY + previous.replace('2026-11-15', '2026-12-15') })).toEqual([])
    expect(codes(guard({ gateway: GATEWAY.replace('packs: [crm]', 'packs: [crm]\n    expires: 2026-12-03') }))).toEqual(
      ['warn:expires_soon'],
    )
  })

  it.each([
    [
      'an issuer',
      { crm: CRM.replace('auth: [api_key, bearer, envelope]', 'auth: [api_key, envelope]') },
      'issuers.corp-idp is used by no pack',
    ],
    [
      'an issuer the packs leave out',
      {
        crm: CRM + 'bearer: { issuers: [corp-idp] }\n',
        gateway: GATEWAY.replace(
          'signers:',
          '  other-idp: { issuer: "https://other.acme-corp.dev", jwks_uri: "https://other.acme-corp.dev/jwks", audience: x, algorithms: [ES256] }\nsigners:',
        ),
      },
      'issuers.other-idp is used by no pack',
    ],
    [
      'a signer',
      { crm: CRM.replace('auth: [api_key, bearer, envelope]', 'auth: [api_key, bearer]') },
      'signers.chat-host is used by no pack',
    ],
    [
      'a key directory',
      {
        gateway: GATEWAY + 'key_directories:\n  - { origin: "https://bots.acme-corp.dev" }\n',
        crm: CRM + 'envelope: { directories: [] }\n',
      },
      'key directory https://bots.acme-corp.dev is used by no pack',
    ],
    [
      'a session section',
      {
        gateway:
          GATEWAY +
          'session:\n  cookies: [sid]\n  introspection: { endpoint: "https://app.acme-corp.dev/api/auth/get-session" }\n',
      },
      'session is used by no pack',
    ],
    [
      'an API key no pack takes',
      { gateway: GATEWAY.replace('packs: [crm]', 'packs: [public]') },
      'api_keys.ci-bot can call no pack',
    ],
  ])('refuses %s that nothing uses', (_, files, message) => {
    const found = guard(files as Files)
    expect(codes(found)).toEqual(['refuse:unused'])
    expect(found[0]?.message).toContain(message)
  })

  it('refuses a missing INVOKER_SIGNING_KEYS, a secret the policy names, and half an Upstash store', () => {
    const none = guard({}, { known: true, names: [] })
    expect(codes(none)).toEqual(['refuse:missing_secret'])
    expect(none[0]?.message).toContain('INVOKER_SIGNING_KEYS is not set')
    const hs256 = GATEWAY.replace('jwks_uri: https://idp.acme-corp.dev/jwks', 'secret: IDP_HS256_SECRET').replace(
      '[RS256]',
      '[HS256]',
    )
    const named = guard({ gateway: hs256 })
    expect(codes(named)).toEqual(['refuse:missing_secret'])
    expect(named[0]?.message).toContain('IDP_HS256_SECRET')
    expect(guard({ gateway: hs256 }, { known: true, names: ['INVOKER_SIGNING_KEYS', 'IDP_HS256_SECRET'] })).toEqual([])
    expect(codes(guard({}, { known: true, names: ['INVOKER_SIGNING_KEYS', 'UPSTASH_REDIS_REST_URL'] }))).toEqual([
      'refuse:half_store',
    ])
  })

  it('does not refuse when wrangler could not list the secrets, and says they were not checked', () => {
    const input: CompileInput = {
      policies: [
        { path: 'policies/_gateway.yaml', text: GATEWAY },
        { path: 'policies/crm.yaml', text: CRM },
      ],
      env: {},
    }
    const result = runGuard(input, {
      nowSeconds: NOW,
      secrets: { known: false, why: 'wrangler could not list them (offline)' },
    })
    expect(result.ok && result.findings).toEqual([])
    expect(result.ok && result.unchecked).toEqual([
      expect.stringContaining("the Worker's secrets (INVOKER_SIGNING_KEYS): wrangler could not list them (offline)"),
    ])
  })

  it('refuses anonymous callers without a rate limit that counts every one of them', () => {
    const unlimited = PUBLIC.replace(/rate_limits:[\s\S]*/, '')
    const postOnly = PUBLIC.replace('when: { kind: anonymous }', 'when: { kind: anonymous, method: POST }')
    const byKey = PUBLIC.replace('by: ip, when: { kind: anonymous }', 'by: org')
    for (const pack of [unlimited, postOnly, byKey]) {
      const found = guard({ public: pack })
      expect(codes(found), pack).toEqual(['refuse:anonymous_unlimited'])
      expect(found[0]?.where).toBe('policies/public.yaml:5')
    }
    expect(guard({ public: PUBLIC.replace('by: ip, when: { kind: anonymous }', 'by: invoker') })).toEqual([])
  })

  it('warns, without refusing, of report mode, forwarded credentials, the admin endpoint, optional nonces, long tokens and IP upstreams', () => {
    const found = guard(
      {
        gateway: GATEWAY.replace(
          'issuer: https://gateway.acme-corp.dev',
          'issuer: https://gateway.acme-corp.dev\ntoken_ttl: 10m\nenvelope: { nonce: optional }',
        ),
        crm: CRM + 'mode: report\npass_credentials: true\n',
        public: PUBLIC.replace('https://public.acme-corp.dev', 'https://203.0.114.9'),
      },
      { known: true, names: ['INVOKER_SIGNING_KEYS', 'GATEWAY_ADMIN_TOKEN'] },
    )
    expect(codes(found)).toEqual([
      'warn:admin_endpoint',
      'warn:ip_literal',
      'warn:long_token_ttl',
      'warn:nonce_optional',
      'warn:pass_credentials',
      'warn:report_mode',
    ])
  })
})
