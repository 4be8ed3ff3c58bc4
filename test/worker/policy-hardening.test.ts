/**
 * Issue 12, items 2 (claim size limits), 3 (delegated ids in the signer's namespace) and 16
 * (report mode forwards what enforce mode would refuse for an authorization reason), through the
 * gateway in workerd, to the real test backend. Tokens are HS256 from a shared secret (signed
 * here with jose), signed requests come from a WebCrypto signer, sessions from the real Better
 * Auth app.
 */
import { env } from 'cloudflare:test'
import { SignJWT } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { BETTER_AUTH_COOKIE, signUp } from '../support/better-auth-client.ts'
import { gateway, mintKey, verifiedInvoker, type Echo, type Gateway, type MintedKey } from './harness.ts'
import { localSigner, type LocalSigner } from './local-signer.ts'

const GW = 'https://gw.test'
const AUDIENCE = 'https://agents.test'
const PARTNER_SECRET = 'partner-shared-secret-0123456789abcdef0123'
const ADMIN_TOKEN = 'test-admin-token-that-is-long-enough'

const PACKS = {
  delegated: `
pack: delegated
upstream: $BACKEND
match: { path_prefix: /packs/delegated }
auth: [envelope, api_key]
allow:
  - { id: apikey:ci-bot }
  - { on_behalf_of: alice, meta.signer: chat-host }
`,
  signed: `
pack: signed
upstream: $BACKEND
match: { path_prefix: /packs/signed }
auth: [envelope]
`,
  tokens: `
pack: tokens
upstream: $BACKEND
match: { path_prefix: /packs/tokens }
auth: [bearer]
`,
  report: `
pack: report
upstream: $BACKEND
match: { path_prefix: /packs/report }
auth: [api_key, bearer]
mode: report
allow:
  - { api_key: alice }
  - { kind: service }
bearer: { scopes: { all_of: [agents:read] } }
agents:
  Secret:
    path: /agents/secret/**
    allow: [{ id: nobody }]
`,
  enforced: `
pack: enforced
upstream: $BACKEND
match: { path_prefix: /packs/enforced }
auth: [api_key]
allow:
  - { api_key: alice }
`,
  'report-anon': `
pack: report-anon
upstream: $BACKEND
match: { path_prefix: /packs/report-anon }
auth: [api_key]
anonymous: allow
mode: report
allow:
  - { api_key: alice }
`,
}

let gw: Gateway
let chatHost: LocalSigner
let scheduler: LocalSigner
let alice: MintedKey
let bob: MintedKey
let ciBot: MintedKey

beforeAll(async () => {
  chatHost = await localSigner('chat-host-1')
  scheduler = await localSigner('scheduler-1')
  alice = await mintKey('alice')
  bob = await mintKey('bob')
  ciBot = await mintKey('ci-bot')
  const yaml = `
issuer: https://gateway.test
# The nonce cache's first Durable Object call may be slow on a loaded machine; not what is tested here.
store_timeout: 5s
api_keys:
${alice.yaml}${bob.yaml}${ciBot.yaml}
issuers:
  partner:
    issuer: https://partner.test
    secret: PARTNER_SECRET
    audience: ${AUDIENCE}
    algorithms: [HS256]
    claims: { label: name, email: email, meta: { groups: groups, profile: profile } }
  corp:
    issuer: https://corp.test
    secret: PARTNER_SECRET
    audience: ${AUDIENCE}
    algorithms: [HS256]
    claims: { id_prefix: "corp:" }
signers:
  chat-host:
    keyid: chat-host-1
    algorithm: ed25519
    jwk: ${JSON.stringify(chatHost.jwk)}
    delegate: true
    invoker: { id: chat-host, kind: agent, label: Chat host }
  scheduler:
    keyid: scheduler-1
    algorithm: ed25519
    jwk: ${JSON.stringify(scheduler.jwk)}
    delegate: true
    id_prefix: "sched:"
key_directories:
  - origin: https://crawler.example
    invoker: { id: crawler-bot, label: Crawler }
`
  gw = gateway(PACKS, yaml, undefined, {
    PARTNER_SECRET,
    GATEWAY_STORE: env.GATEWAY_STORE,
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
  })
})

afterEach(() => void vi.restoreAllMocks())

/** Captures the gateway's log lines while `run` runs. */
async function logged(run: () => Promise<Response>): Promise<{ response: Response; line: Record<string, unknown> }> {
  const lines: string[] = []
  vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
  const response = await run()
  vi.restoreAllMocks()
  const line = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => 'request_id' in l && 'decision' in l)
  expect(line, lines.join('\n')).toBeDefined()
  return { response, line: line as Record<string, unknown> }
}

const partnerToken = (claims: Record<string, unknown>) =>
  new SignJWT({ sub: 'partner-user', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://partner.test')
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(PARTNER_SECRET))

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } })

async function onBehalfOf(signer: LocalSigner, user: string, path = '/packs/delegated/ask'): Promise<Response> {
  const headers = { 'on-behalf-of': user }
  const signed = await signer.sign(
    { url: GW + path, headers },
    { components: ['@method', '@authority', '@path', 'on-behalf-of'] },
  )
  return gw.fetch(path, { headers: { ...headers, ...signed } })
}

async function invokerOf(response: Response, pack: string): Promise<Record<string, unknown>> {
  expect(response.status, response.status === 200 ? '' : await response.clone().text()).toBe(200)
  const echo = (await response.json()) as Echo
  return (await verifiedInvoker(gw, echo.headers['x-invoker'] as string, pack)).payload
}

/** Asks `target`'s admin endpoint for a runtime key of `name` on `packs`, with `invoker` when given. */
async function mintRuntimeKey(
  target: Gateway,
  name: string,
  packs: string[],
  invoker?: Record<string, unknown>,
): Promise<Response> {
  const { key, keyId } = generateApiKey()
  return target.fetch('/.well-known/invoker-gateway/keys', {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      key_id: keyId,
      sha256: await sha256Hex(key),
      name,
      packs,
      ...(invoker === undefined ? {} : { invoker }),
    }),
  })
}

describe("item 3: delegated ids live in the signer's namespace", () => {
  it("item 3: a delegating signer cannot become apikey:ci-bot, an anonymous caller or another signer's user", async () => {
    // The real key is admitted by the rule { id: apikey:ci-bot }: that is the id at stake.
    expect((await gw.fetch('/packs/delegated/x', { headers: { 'x-api-key': ciBot.key } })).status).toBe(200)
    for (const user of ['apikey:ci-bot', 'anon:aGVsbG8gd29ybGQgMTIzNA', 'sched:alice', 'chat-host:alice']) {
      const { response, line } = await logged(() => onBehalfOf(chatHost, user))
      expect(response.status, user).toBe(401)
      expect(((await response.json()) as { detail: string }).detail).toBe(
        'The delegated user name starts with a prefix reserved for other kinds of invoker.',
      )
      expect(line).toMatchObject({
        decision: 'deny',
        reason: 'envelope_invalid',
        problem: 'delegation_reserved',
        invoker_id: null,
      })
    }
  })

  it("item 3: a user named like an API key stays in the signer's namespace, and id rules do not match it", async () => {
    const response = await onBehalfOf(chatHost, 'ci-bot')
    expect(response.status).toBe(403)
    expect(((await response.json()) as { detail: string }).detail).toBe("The invoker is not on the pack's allow list.")
  })

  it('item 3: rules match the bare user name through on_behalf_of; the id and sub carry the namespace', async () => {
    const payload = await invokerOf(await onBehalfOf(chatHost, 'alice'), 'delegated')
    expect(payload['sub']).toBe('chat-host:alice')
    expect(payload['invoker']).toEqual({ id: 'chat-host:alice', kind: 'chat', meta: { signer: 'chat-host' } })
    expect(payload['auth']).toEqual({ method: 'envelope', signer: 'chat-host', on_behalf_of: 'alice' })
    // Another signer's alice is another invoker: the rule pins chat-host, and the id differs.
    const other = await onBehalfOf(scheduler, 'alice')
    expect(other.status).toBe(403)
  })

  it("item 3: a configured id_prefix names the signer's namespace", async () => {
    const payload = await invokerOf(await onBehalfOf(scheduler, 'bob', '/packs/signed/x'), 'signed')
    expect(payload['invoker']).toEqual({ id: 'sched:bob', kind: 'chat', meta: { signer: 'signer:scheduler' } })
  })

  it('item 3: a token subject cannot pass for a delegated user, an API key or an anonymous caller', async () => {
    // Also another issuer's namespace and a signer's own id (red team 2, F3).
    // And as a folding backend would read them (red team 4): case, full-width colon, spaces, ignorables.
    const folded = ['CORP:alice', 'corp\uFF1Aalice', ' APIKEY:ci-bot', 'Chat-Host\u200B']
    for (const sub of [
      'chat-host:alice',
      'sched:bob',
      'apikey:ci-bot',
      'anon:x',
      'corp:alice',
      'chat-host',
      ...folded,
    ]) {
      const { response, line } = await logged(async () =>
        gw.fetch('/packs/tokens/x', bearer(await partnerToken({ sub }))),
      )
      expect(response.status, sub).toBe(401)
      expect(line).toMatchObject({ reason: 'bearer_invalid', problem: 'id_reserved' })
    }
    expect(
      (await invokerOf(await gw.fetch('/packs/tokens/x', bearer(await partnerToken({ sub: 'alice' }))), 'tokens'))[
        'sub'
      ],
    ).toBe('alice')
  })

  it('item 3: a runtime key may not take an id in a delegation namespace', async () => {
    const response = await mintRuntimeKey(gw, 'sneaky', ['delegated'], { id: 'chat-host:alice' })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { detail: string }).detail).toContain(
      'invoker.id may not start with "chat-host:"',
    )
  })
})

describe('a runtime key does not take the id of an invoker the policy defines (red team, 2026-12-01)', () => {
  it("refuses a policy key's id, a signer's id and a key directory's id", async () => {
    for (const id of ['apikey:ci-bot', 'chat-host', 'crawler-bot']) {
      const response = await mintRuntimeKey(gw, 'impostor', ['delegated'], { id })
      expect(response.status, id).toBe(400)
      expect(((await response.json()) as { detail: string }).detail).toContain(
        `invoker.id "${id}" is the id of an invoker the policy defines`,
      )
    }
    // An id of its own is still fine.
    expect((await mintRuntimeKey(gw, 'own-bot', ['delegated'], { id: 'svc-own-bot' })).status).toBe(201)
  })

  it("refuses an id in an issuer's users' namespace (its claims' id_prefix)", async () => {
    const prefixed = gateway(
      { open: 'pack: open\nupstream: $BACKEND\nmatch: { path_prefix: /open }\nauth: [api_key]\n' },
      `issuer: https://gateway.test\nissuers:\n  ext:\n    issuer: https://ext.test\n    secret: PARTNER_SECRET\n    audience: ${AUDIENCE}\n    algorithms: [HS256]\n    claims: { id_prefix: "ext:" }\n`,
      undefined,
      { PARTNER_SECRET, GATEWAY_STORE: env.GATEWAY_STORE, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN },
    )
    const response = await mintRuntimeKey(prefixed, 'impostor', ['open'], { id: 'ext:alice' })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { detail: string }).detail).toContain('invoker.id may not start with "ext:"')
  })
})

describe('item 2: every value mapped into an invoker has a documented limit', () => {
  it('item 2: a token with an oversized claim is refused (401, logged), never cut short', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      // A bearer token over 8 KiB is refused before it is parsed; these fit under that.
      ['a 5,000-character email', { email: '@.'.repeat(2500) }],
      ['a 257-character subject', { sub: 'u'.repeat(257) }],
      ['a 257-character label', { name: 'n'.repeat(257) }],
      ['a 321-character email', { email: 'a'.repeat(309) + '@example.com' }],
      ['a list of 257 groups', { groups: Array.from({ length: 257 }, (_, i) => `g${i}`) }],
      ['a 1,025-character group', { groups: ['g'.repeat(1025)] }],
      ['a profile nested 9 deep', { profile: JSON.parse('{"a":'.repeat(9) + '1' + '}'.repeat(9)) as unknown }],
    ]
    for (const [what, claims] of cases) {
      const { response, line } = await logged(async () =>
        gw.fetch('/packs/tokens/x', bearer(await partnerToken(claims))),
      )
      expect(response.status, what).toBe(401)
      expect(((await response.json()) as { detail: string }).detail, what).toBe(
        'The token carries a claim larger than the gateway accepts.',
      )
      expect(line, what).toMatchObject({ reason: 'bearer_invalid', problem: 'claim_too_large', invoker_id: null })
    }
  })

  it('item 2: values at the limits pass whole', async () => {
    const claims = {
      sub: 'u'.repeat(256),
      name: 'n'.repeat(256),
      email: 'a'.repeat(308) + '@example.com',
      groups: Array.from({ length: 256 }, (_, i) => String(i)),
      profile: JSON.parse('{"a":'.repeat(7) + '"deep"' + '}'.repeat(7)) as unknown,
    }
    const payload = await invokerOf(await gw.fetch('/packs/tokens/x', bearer(await partnerToken(claims))), 'tokens')
    expect(payload['invoker']).toEqual({
      id: claims.sub,
      kind: 'service',
      label: claims.name,
      meta: { email: claims.email, groups: claims.groups, profile: claims.profile },
    })
  })

  it("item 2: an oversized value from the app's session endpoint is refused", async () => {
    const packs = { app: 'pack: app\nupstream: $BACKEND\nmatch: { path_prefix: /packs/app }\nauth: [session]\n' }
    const sessions = gateway(
      packs,
      `
issuer: https://gateway.test
session:
  cookies: [${BETTER_AUTH_COOKIE}]
  introspection: { endpoint: ${env.TEST_BETTER_AUTH_ORIGIN}/api/auth/get-session }
`,
    )
    const long = await signUp(env.TEST_BETTER_AUTH_ORIGIN, `long-${crypto.randomUUID()}@example.com`, 'L'.repeat(300))
    const { response, line } = await logged(() => sessions.fetch('/packs/app/x', { headers: { cookie: long.cookie } }))
    expect(response.status).toBe(401)
    expect(line).toMatchObject({ reason: 'session_invalid', problem: 'claim_too_large' })
    const fits = await signUp(env.TEST_BETTER_AUTH_ORIGIN, `fits-${crypto.randomUUID()}@example.com`, 'L'.repeat(256))
    expect((await sessions.fetch('/packs/app/x', { headers: { cookie: fits.cookie } })).status).toBe(200)
  })

  it('item 2: a runtime key with an oversized invoker is refused by the admin endpoint', async () => {
    const { key, keyId } = generateApiKey()
    const response = await gw.fetch('/.well-known/invoker-gateway/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        key_id: keyId,
        sha256: await sha256Hex(key),
        name: 'wordy',
        packs: ['tokens'],
        invoker: { label: 'x'.repeat(257) },
      }),
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'The request was refused: invoker.label is longer than 256 characters.',
    )
  })
})

describe('item 16: report mode forwards what enforce mode would refuse for an authorization reason', () => {
  it('item 16: a request without a credential is forwarded as anonymous and logged would_deny', async () => {
    expect((await gw.fetch('/packs/enforced/x')).status).toBe(401)
    const { response, line } = await logged(() => gw.fetch('/packs/report/x'))
    const payload = await invokerOf(response, 'report')
    expect(payload['invoker']).toMatchObject({ id: expect.stringMatching(/^anon:/) as unknown, kind: 'anonymous' })
    expect(payload['auth']).toEqual({ method: 'anonymous' })
    expect(line).toMatchObject({
      pack: 'report',
      decision: 'would_deny',
      reason: 'credential_missing',
      status: 200,
      invoker_kind: 'anonymous',
    })
  })

  it('item 16: list and agent-list denials, a missing scope and a refused anonymous caller are forwarded and logged with their reason', async () => {
    const cases: Array<[string, () => Promise<Response>, string, Record<string, unknown>]> = [
      [
        'pack list',
        () => gw.fetch('/packs/report/x', { headers: { 'x-api-key': bob.key } }),
        'denied',
        { invoker_id: 'apikey:bob' },
      ],
      [
        'agent list',
        () => gw.fetch('/packs/report/agents/secret/run', { headers: { 'x-api-key': alice.key } }),
        'denied',
        { agent: 'Secret', invoker_id: 'apikey:alice' },
      ],
      [
        'scope',
        async () => gw.fetch('/packs/report/x', bearer(await partnerToken({ scope: 'other' }))),
        'insufficient_scope',
        { invoker_id: 'partner-user' },
      ],
      ['anonymous', () => gw.fetch('/packs/report-anon/x'), 'anonymous_denied', { invoker_kind: 'anonymous' }],
    ]
    for (const [what, run, reason, extra] of cases) {
      const { response, line } = await logged(run)
      expect(response.status, what).toBe(200)
      expect(((await response.json()) as Echo).headers['x-invoker'], what).toBeDefined()
      expect(line, what).toMatchObject({ decision: 'would_deny', reason, status: 200, ...extra })
    }
  })

  it('item 16: a presented but invalid credential is still refused', async () => {
    const forged = generateApiKey(alice.keyId).key
    const { response, line } = await logged(() => gw.fetch('/packs/report/x', { headers: { 'x-api-key': forged } }))
    expect(response.status).toBe(401)
    expect(line).toMatchObject({ decision: 'deny', reason: 'api_key_mismatch' })
    const badToken = (await partnerToken({ scope: 'agents:read' })).slice(0, -2) + 'xx'
    expect((await gw.fetch('/packs/report/x', bearer(badToken))).status).toBe(401)
    expect((await gw.fetch('/packs/report/x', { headers: { authorization: 'Basic YTpi' } })).status).toBe(401)
  })
})
