/**
 * Issue 12, the authentication defects (items 1, 5, 9, 10, 14 and the answer-cache half of 12):
 * each test is named after its item and fails on the code before the fix. Real parts only: two
 * real OpenID providers (oidc-provider) that both introspect, failing services on loopback that
 * count what the gateway asks of them (test/support/trouble.ts), and the workerd runtime.
 */
import { env } from 'cloudflare:test'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { serializeDictionary, type InnerList } from 'structured-headers'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { AGENTS_RESOURCE, clientCredentialsToken, OIDC_CLIENTS, OPAQUE_RESOURCE } from '../support/oidc-client.ts'
import { gateway, verifiedInvoker, type Echo, type Gateway } from './harness.ts'

const IDP = env.TEST_OIDC_ISSUER
const STRANGER = env.TEST_STRANGER_ISSUER
const TROUBLE = env.TEST_TROUBLE_ERROR_ORIGIN
const HANG = env.TEST_TROUBLE_HANG_ORIGIN
const INLINE_ISS = 'https://inline.issue-12.test'
const BAD_INLINE_ISS = 'https://bad-inline.issue-12.test'
const FAILING_JWKS_ISS = 'https://failing-jwks.issue-12.test'
const HANGING_JWKS_ISS = 'https://hanging-jwks.issue-12.test'
/** An Ed25519 public key WebCrypto refuses: 3 bytes where 32 belong. Passes the schema. */
const UNIMPORTABLE_ED25519 = { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }

/** Each run gets its own paths on the trouble servers, so counts are this run's alone. */
const run = crypto.randomUUID().slice(0, 8)
const PATHS = {
  jwks: `/jwks-${run}`,
  hangingJwks: `/jwks-hang-${run}`,
  introspection: `/introspect-${run}`,
  session: `/session-${run}`,
  hangingSession: `/session-hang-${run}`,
}

const SECRETS = {
  IDP_INTROSPECTION_SECRET: OIDC_CLIENTS.gateway.secret,
  STRANGER_INTROSPECTION_SECRET: OIDC_CLIENTS.gateway.secret,
  FAILING_INTROSPECTION_SECRET: 'irrelevant-the-endpoint-fails',
  GATEWAY_ADMIN_TOKEN: 'issue-12-admin-token-0123456789abcdef',
}

const PACKS = {
  // Item 1: one pack per introspecting issuer, and one that needs a scope the token lacks.
  a: 'pack: a\nupstream: $BACKEND\nmatch: { path_prefix: /packs/a }\nauth: [bearer]\nbearer: { issuers: [idp] }\n',
  b: 'pack: b\nupstream: $BACKEND\nmatch: { path_prefix: /packs/b }\nauth: [bearer]\nbearer: { issuers: [stranger] }\n',
  writers:
    'pack: writers\nupstream: $BACKEND\nmatch: { path_prefix: /packs/writers }\nauth: [bearer]\nbearer: { issuers: [idp], scopes: { all_of: [agents:write] } }\n',
  // Items 5, 10: tokens signed here; bearer and session JWTs of one issuer.
  inline:
    'pack: inline\nupstream: $BACKEND\nmatch: { path_prefix: /packs/inline }\nauth: [bearer, session, api_key]\nbearer: { issuers: [inline, bad-inline] }\n',
  // Item 9: issuers whose JWKS or introspection endpoint fails or hangs.
  troubled:
    'pack: troubled\nupstream: $BACKEND\nmatch: { path_prefix: /packs/troubled }\nauth: [bearer]\nbearer: { issuers: [failing-jwks, hanging-jwks, failing-introspection] }\n',
  // Items 9, 10, 14: signed requests only (signers and key directories).
  signed: 'pack: signed\nupstream: $BACKEND\nmatch: { path_prefix: /packs/signed }\nauth: [envelope]\n',
  // Item 14.
  cookies: 'pack: cookies\nupstream: $BACKEND\nmatch: { path_prefix: /packs/cookies }\nauth: [session]\n',
  open: 'pack: open\nupstream: $BACKEND\nmatch: { path_prefix: /packs/open }\nauth: []\nanonymous: allow\n',
  members:
    'pack: members\nupstream: $BACKEND\nmatch: { path_prefix: /packs/members }\nauth: [api_key]\nanonymous: allow\ndeny: [{ kind: anonymous }]\n',
}

let inlineKey: CryptoKey
let inlinePublic: JWK
let strangerKey: CryptoKey
let signerPublic: JWK

function gatewayYaml(sessionEndpoint = `${TROUBLE}${PATHS.session}`): string {
  return `
issuer: https://gateway.test
issuers:
  idp:
    issuer: ${IDP}
    jwks_uri: ${IDP}/jwks
    audience: [${AGENTS_RESOURCE}, ${OPAQUE_RESOURCE}]
    algorithms: [ES256]
    clock_tolerance: 0s
    introspection: { endpoint: ${IDP}/token/introspection, client_id: ${OIDC_CLIENTS.gateway.id}, client_secret: IDP_INTROSPECTION_SECRET }
  stranger:
    issuer: ${STRANGER}
    jwks_uri: ${STRANGER}/jwks
    audience: [${AGENTS_RESOURCE}, ${OPAQUE_RESOURCE}]
    algorithms: [ES256]
    introspection: { endpoint: ${STRANGER}/token/introspection, client_id: ${OIDC_CLIENTS.gateway.id}, client_secret: STRANGER_INTROSPECTION_SECRET }
  inline:
    issuer: ${INLINE_ISS}
    jwks: { keys: [${JSON.stringify(inlinePublic)}] }
    audience: ${AGENTS_RESOURCE}
    algorithms: [EdDSA]
    clock_tolerance: 30s
  bad-inline:
    issuer: ${BAD_INLINE_ISS}
    jwks: { keys: [${JSON.stringify({ ...UNIMPORTABLE_ED25519, kid: 'bad' })}] }
    audience: ${AGENTS_RESOURCE}
    algorithms: [EdDSA]
  failing-jwks:
    issuer: ${FAILING_JWKS_ISS}
    jwks_uri: ${TROUBLE}${PATHS.jwks}
    audience: ${AGENTS_RESOURCE}
    algorithms: [ES256]
    jwks_cache: { cooldown: 30s, timeout: 300ms }
  hanging-jwks:
    issuer: ${HANGING_JWKS_ISS}
    jwks_uri: ${HANG}${PATHS.hangingJwks}
    audience: ${AGENTS_RESOURCE}
    algorithms: [ES256]
    jwks_cache: { cooldown: 30s, timeout: 300ms }
  failing-introspection:
    issuer: https://failing-introspection.issue-12.test
    audience: ${AGENTS_RESOURCE}
    algorithms: [ES256]
    introspection: { endpoint: ${TROUBLE}${PATHS.introspection}, client_id: gateway, client_secret: FAILING_INTROSPECTION_SECRET, timeout: 300ms }
session:
  cookies: [sid]
  introspection: { endpoint: ${sessionEndpoint}, timeout: 300ms }
signers:
  good:
    keyid: good-1
    algorithm: ed25519
    jwk: ${JSON.stringify(signerPublic)}
  broken:
    keyid: broken-1
    algorithm: ed25519
    jwk: ${JSON.stringify(UNIMPORTABLE_ED25519)}
key_directories:
  - origin: ${TROUBLE}
  - origin: ${HANG}
envelope: { directory_timeout: 300ms }
`
}

/** The session verified as a JWT of the inline issuer (item 1: one token, two uses). */
const jwtSessionYaml = (): string =>
  gatewayYaml().replace(
    /session:\n {2}cookies: \[sid\]\n {2}introspection: .*\n/,
    'session:\n  cookies: [sid]\n  jwt: { issuer: inline }\n',
  )

let gw: Gateway
afterEach(() => void vi.restoreAllMocks())

beforeAll(async () => {
  const inline = await generateKeyPair('EdDSA', { extractable: true })
  inlineKey = inline.privateKey
  inlinePublic = { ...(await exportJWK(inline.publicKey)), kid: 'inline-1', alg: 'EdDSA' }
  strangerKey = (await generateKeyPair('ES256')).privateKey
  const signer = await generateKeyPair('EdDSA', { extractable: true })
  const { kty, crv, x } = await exportJWK(signer.publicKey)
  signerPublic = { kty, crv, x }
  gw = gateway(PACKS, gatewayYaml(), undefined, SECRETS)
})

const bearer = (token: string, extra: Omit<Parameters<Gateway['fetch']>[1] & object, 'headers'> = {}) => ({
  ...extra,
  headers: { authorization: `Bearer ${token}` },
})
const hits = async (origin: string, path: string): Promise<number> =>
  Number(await (await fetch(`${origin}/__hits?path=${encodeURIComponent(path)}`)).text())
const detail = async (response: Response): Promise<string> => ((await response.json()) as { detail: string }).detail

/** Log lines written while `action` runs. */
async function logged(action: () => Promise<void>): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = []
  vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
  await action()
  vi.restoreAllMocks()
  return lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** A JWT of the inline issuer (or any issuer, with `key`), with any claims. */
function jwt(
  claims: Record<string, unknown>,
  options: { key?: CryptoKey; alg?: string; kid?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ iss: INLINE_ISS, aud: AGENTS_RESOURCE, sub: 'user-7', iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'EdDSA', kid: options.kid ?? 'inline-1' })
    .sign(options.key ?? inlineKey)
}

const opaqueToken = (scope = 'agents:read') =>
  clientCredentialsToken(`${IDP}/token`, OIDC_CLIENTS.agent, { resource: OPAQUE_RESOURCE, scope })

describe('item 1: every cached answer is keyed by everything that decided it', () => {
  it('item 1: introspection answers are not shared across issuers', async () => {
    const token = await opaqueToken()
    // Issuer A (idp) says the token is active, for pack a.
    expect((await gw.fetch('/packs/a/run', bearer(token))).status).toBe(200)
    // Pack b trusts only issuer B (stranger): B must be asked. Without B's client secret the
    // gateway cannot ask it, so the answer is 503, not A's cached "active".
    expect(
      (await gw.fetch('/packs/b/run', bearer(token, { bindings: { STRANGER_INTROSPECTION_SECRET: undefined } })))
        .status,
    ).toBe(503)
    // Asked, B does not know the token: refused.
    const refused = await gw.fetch('/packs/b/run', bearer(token))
    expect(refused.status).toBe(401)
    expect(await detail(refused)).toBe('The token is not active.')
    // A's answer still stands for pack a.
    expect((await gw.fetch('/packs/a/run', bearer(token))).status).toBe(200)
  })

  it("item 1: an answer cached for one pack does not admit the token to a pack that needs more (scopes are the pack's)", async () => {
    const token = await opaqueToken('agents:read')
    expect((await gw.fetch('/packs/a/run', bearer(token))).status).toBe(200)
    const writers = await gw.fetch('/packs/writers/run', bearer(token))
    expect(writers.status).toBe(403)
    expect(writers.headers.get('www-authenticate')).toContain('scope="agents:write"')
  })

  it('item 1: a JWT verified for one use is mapped anew for another (bearer, then session cookie)', async () => {
    const sessions = gateway(PACKS, jwtSessionYaml(), undefined, SECRETS)
    const token = await jwt({ sub: 'user-8' })
    const asBearer = await sessions.fetch('/packs/inline/run', bearer(token))
    expect(asBearer.status).toBe(200)
    const first = await verifiedInvoker(
      sessions,
      ((await asBearer.json()) as Echo).headers['x-invoker'] as string,
      'inline',
    )
    expect(first.payload['invoker']).toMatchObject({ id: 'user-8', kind: 'service' })
    expect(first.payload['auth']).toEqual({ method: 'bearer', issuer: 'inline' })
    const asCookie = await sessions.fetch('/packs/inline/run', { headers: { cookie: `sid=${token}` } })
    expect(asCookie.status).toBe(200)
    const second = await verifiedInvoker(
      sessions,
      ((await asCookie.json()) as Echo).headers['x-invoker'] as string,
      'inline',
    )
    expect(second.payload['invoker']).toMatchObject({ id: 'user-8', kind: 'authUser' })
    expect(second.payload['auth']).toEqual({ method: 'session', issuer: 'inline' })
  })

  it('item 1: a verified JWT is reused only for packs that accept its issuer', async () => {
    const token = await clientCredentialsToken(`${IDP}/token`, OIDC_CLIENTS.agent, { scope: 'agents:read' })
    expect((await gw.fetch('/packs/a/run', bearer(token))).status).toBe(200)
    expect((await gw.fetch('/packs/b/run', bearer(token))).status).toBe(401)
  })
})

describe('item 5: a token issued in the future is refused', () => {
  const now = () => Math.floor(Date.now() / 1000)

  it('item 5: refuses a bearer JWT with iat a year ahead, or iat after exp', async () => {
    const lines = await logged(async () => {
      const future = await gw.fetch(
        '/packs/inline/run',
        bearer(await jwt({ iat: now() + 365 * 86_400, exp: now() + 366 * 86_400 })),
      )
      expect(future.status).toBe(401)
      expect(await detail(future)).toBe('The token is not valid yet.')
      // Within the clock tolerance (30 s) iat may be ahead; after exp it may not.
      const afterExp = await gw.fetch('/packs/inline/run', bearer(await jwt({ iat: now() + 20, exp: now() + 10 })))
      expect(afterExp.status).toBe(401)
      expect(await detail(afterExp)).toBe('The token is not valid for this pack.')
    })
    expect(lines.map((line) => line['problem'])).toEqual(['issued_in_future', 'issued_after_expiry'])
  })

  it('item 5: accepts iat ahead within the clock tolerance, and real provider tokens', async () => {
    expect((await gw.fetch('/packs/inline/run', bearer(await jwt({ iat: now() + 20 })))).status).toBe(200)
    expect(
      (
        await gw.fetch(
          '/packs/a/run',
          bearer(await clientCredentialsToken(`${IDP}/token`, OIDC_CLIENTS.agent, { scope: 'agents:read' })),
        )
      ).status,
    ).toBe(200)
  })

  it('item 5: refuses a session JWT issued in the future', async () => {
    const sessions = gateway(PACKS, jwtSessionYaml(), undefined, SECRETS)
    expect((await sessions.fetch('/packs/inline/run', { headers: { cookie: `sid=${await jwt({})}` } })).status).toBe(
      200,
    )
    const future = await sessions.fetch('/packs/inline/run', {
      headers: { cookie: `sid=${await jwt({ iat: now() + 365 * 86_400, exp: now() + 366 * 86_400 })}` },
    })
    expect(future.status).toBe(401)
  })
})

/** A signed request naming a key directory (Web Bot Auth); its signature is never reached. */
function directoryRequest(directory: string): RequestInit {
  const params = new Map<string, string | number>([
    ['created', Math.floor(Date.now() / 1000)],
    ['keyid', 'some-thumbprint'],
    ['nonce', crypto.randomUUID()],
    ['tag', 'web-bot-auth'],
  ])
  const input: InnerList = [['@method', '@authority', '@path', 'signature-agent'].map((c) => [c, new Map()]), params]
  return {
    headers: {
      'signature-agent': `"${directory}"`,
      'signature-input': serializeDictionary(new Map([['sig1', input]])),
      signature: serializeDictionary(new Map([['sig1', [new Uint8Array(64).buffer, new Map()]]])),
    },
  }
}

describe('item 9: a failing key source is not fetched on every request', () => {
  const DIRECTORY = '/.well-known/http-message-signatures-directory'

  it('item 9: a failing key directory is fetched once per refetch limit, not per request', async () => {
    for (const origin of [TROUBLE, HANG]) {
      const fresh = gateway(PACKS, gatewayYaml(), undefined, SECRETS)
      const before = await hits(origin, DIRECTORY)
      for (let i = 0; i < 4; i++) {
        const started = Date.now()
        const response = await fresh.fetch('/packs/signed/crawl', directoryRequest(origin))
        expect(response.status, origin).toBe(503)
        expect(Date.now() - started, origin).toBeLessThan(2_000)
      }
      expect(await hits(origin, DIRECTORY), origin).toBe(before + 1)
    }
  })

  it('item 9: requests that arrive together share one fetch of a failing key directory (red team 3, F2)', async () => {
    for (const origin of [TROUBLE, HANG]) {
      const fresh = gateway(PACKS, gatewayYaml(), undefined, SECRETS)
      const before = await hits(origin, DIRECTORY)
      const started = Date.now()
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => fresh.fetch('/packs/signed/crawl', directoryRequest(origin))),
      )
      expect(
        responses.map((r) => r.status),
        origin,
      ).toEqual(Array(10).fill(503))
      expect(Date.now() - started, origin).toBeLessThan(2_000)
      expect(await hits(origin, DIRECTORY), origin).toBe(before + 1)
    }
  })

  it('item 9: a failing or hanging JWKS endpoint is fetched once per cooldown, even with no keys ever fetched', async () => {
    const attacker = (iss: string) =>
      new SignJWT({ iss, aud: AGENTS_RESOURCE, sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .sign(strangerKey)
    for (const [origin, path, iss] of [
      [TROUBLE, PATHS.jwks, FAILING_JWKS_ISS],
      [HANG, PATHS.hangingJwks, HANGING_JWKS_ISS],
    ] as const) {
      const lines = await logged(async () => {
        for (let i = 0; i < 4; i++) {
          const response = await gw.fetch('/packs/troubled/run', bearer(await attacker(iss)))
          expect(response.status, path).toBe(503)
        }
      })
      expect(await hits(origin, path), path).toBe(1)
      expect(
        lines.every(
          (line) => typeof line['problem'] === 'string' && (line['problem'] as string).startsWith('JWKS endpoint'),
        ),
        path,
      ).toBe(true)
    }
  })

  it('item 9: a failing introspection endpoint is asked once per cooldown for a token, not on every retry', async () => {
    const token = `opaque-${crypto.randomUUID()}`
    for (let i = 0; i < 4; i++) expect((await gw.fetch('/packs/troubled/run', bearer(token))).status).toBe(503)
    expect(await hits(TROUBLE, PATHS.introspection)).toBe(1)
  })

  it('item 9: a failing or hanging session endpoint is asked once per cooldown for a cookie, not on every retry', async () => {
    for (const [origin, path] of [
      [TROUBLE, PATHS.session],
      [HANG, PATHS.hangingSession],
    ] as const) {
      const sessions = gateway(PACKS, gatewayYaml(`${origin}${path}`), undefined, SECRETS)
      for (let i = 0; i < 4; i++) {
        const response = await sessions.fetch('/packs/cookies/inbox', { headers: { cookie: 'sid=a-session-cookie' } })
        expect(response.status, path).toBe(503)
        expect(response.headers.get('retry-after')).toBe('5')
      }
      expect(await hits(origin, path), path).toBe(1)
    }
  })
})

/** A request signed by a policy signer (the signature does not matter when its key cannot import). */
function signedBy(keyid: string): RequestInit {
  const params = new Map<string, string | number>([
    ['created', Math.floor(Date.now() / 1000)],
    ['keyid', keyid],
    ['nonce', crypto.randomUUID()],
  ])
  const input: InnerList = [['@method', '@authority', '@path'].map((c) => [c, new Map()]), params]
  return {
    headers: {
      'signature-input': serializeDictionary(new Map([['sig1', input]])),
      signature: serializeDictionary(new Map([['sig1', [new Uint8Array(64).buffer, new Map()]]])),
    },
  }
}

describe('item 10: a key that does not import is a 503, never a 500, and never cached', () => {
  it('item 10: a signer key that fails to import answers 503 with a log problem, every time', async () => {
    const lines = await logged(async () => {
      for (let i = 0; i < 2; i++) {
        const response = await gw.fetch('/packs/signed/run', signedBy('broken-1'))
        expect(response.status).toBe(503)
        expect(response.headers.get('retry-after')).toBe('5')
      }
    })
    expect(lines.map((line) => [line['reason'], line['problem']])).toEqual([
      ['envelope_unavailable', 'the key of signer broken does not import (DataError)'],
      ['envelope_unavailable', 'the key of signer broken does not import (DataError)'],
    ])
    // The other signer's key imports and verifies as before (its signature here is wrong: 401).
    expect((await gw.fetch('/packs/signed/run', signedBy('good-1'))).status).toBe(401)
  })

  it('item 10: an issuer key that fails to import answers 503 with a log problem, not 401', async () => {
    const pair = await generateKeyPair('EdDSA')
    const token = await jwt({ iss: BAD_INLINE_ISS }, { key: pair.privateKey, kid: 'bad' })
    const lines = await logged(async () => {
      expect((await gw.fetch('/packs/inline/run', bearer(token))).status).toBe(503)
    })
    expect(lines[0]).toMatchObject({
      reason: 'issuer_unavailable',
      problem: expect.stringMatching(/^a key of issuer bad-inline does not import/),
    })
  })
})

describe('item 14: every 401 names the schemes the pack accepts, and only those', () => {
  it('item 14: a session-only pack challenges with its cookie, not Bearer', async () => {
    const response = await gw.fetch('/packs/cookies/inbox')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Cookie realm="invoker-gateway", cookie-name="sid"')
  })

  it('item 14: an envelope-only pack challenges with Signature, next to Accept-Signature', async () => {
    const response = await gw.fetch('/packs/signed/run')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Signature realm="invoker-gateway"')
    expect(response.headers.get('accept-signature')).toMatch(/^sig1=\("@method" "@authority" "@path"\)/)
  })

  it('item 14: a pack with several methods names each one, in its order, for every kind of 401', async () => {
    const all =
      'Bearer realm="invoker-gateway", Cookie realm="invoker-gateway", cookie-name="sid", ApiKey realm="invoker-gateway"'
    expect((await gw.fetch('/packs/inline/run')).headers.get('www-authenticate')).toBe(all)
    const ambiguous = await gw.fetch('/packs/inline/run', {
      headers: { authorization: 'Bearer x.y.z', cookie: 'sid=abc' },
    })
    expect(ambiguous.status).toBe(401)
    expect(ambiguous.headers.get('www-authenticate')).toBe(
      'Bearer realm="invoker-gateway", error="invalid_request", Cookie realm="invoker-gateway", cookie-name="sid", ApiKey realm="invoker-gateway", error="invalid_request"',
    )
    const unknownScheme = await gw.fetch('/packs/inline/run', { headers: { authorization: 'Digest abc' } })
    expect(unknownScheme.status).toBe(401)
    expect(unknownScheme.headers.get('www-authenticate')).toContain('Cookie realm="invoker-gateway", cookie-name="sid"')
  })

  it('item 14: an anonymous caller refused by a list gets a challenge of the methods the pack takes', async () => {
    const response = await gw.fetch('/packs/members/x')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('ApiKey realm="invoker-gateway"')
  })

  it('item 14: a pack that takes no credential answers 403, since a 401 would have no scheme to name', async () => {
    const inits: Array<Parameters<Gateway['fetch']>[1]> = [
      { headers: { 'x-api-key': 'igw_whatever' } },
      { headers: { authorization: 'Bearer x.y.z' } },
      { ip: null },
    ]
    for (const init of inits) {
      const response = await gw.fetch('/packs/open/x', init)
      expect(response.status).toBe(403)
      expect(response.headers.get('www-authenticate')).toBeNull()
    }
    expect((await gw.fetch('/packs/open/x')).status).toBe(200)
  })

  it('item 14: the admin endpoint challenges with Bearer in its own realm', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token' }] as Array<Record<string, string>>) {
      const response = await gw.fetch('/.well-known/invoker-gateway/keys', { method: 'POST', headers, body: '{}' })
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="invoker-gateway-admin"')
    }
  })
})

/**
 * An issuer whose introspection endpoint answers `answer` (a scripted provider on loopback: no
 * real one issues tokens in the future or answers with megabytes).
 */
function scriptedIssuer(answer: Record<string, unknown>, pad = 0): { gateway: Gateway; path: string } {
  const path = `/scripted/${crypto.randomUUID()}`
  const endpoint = `${TROUBLE}${path}?json=${encodeURIComponent(JSON.stringify(answer))}${pad > 0 ? `&pad=${pad}` : ''}`
  const yaml = `
issuer: https://gateway.test
issuers:
  scripted:
    issuer: https://scripted.issue-12.test
    audience: ${AGENTS_RESOURCE}
    algorithms: [ES256]
    clock_tolerance: 30s
    introspection: { endpoint: ${JSON.stringify(endpoint)}, client_id: gateway, client_secret: FAILING_INTROSPECTION_SECRET }
    claims: { label: name }
`
  const pack = 'pack: opaque\nupstream: $BACKEND\nmatch: { path_prefix: /packs/opaque }\nauth: [bearer]\n'
  return { gateway: gateway({ opaque: pack }, yaml, undefined, SECRETS), path }
}

describe('introspection answers from a scripted provider', () => {
  const now = () => Math.floor(Date.now() / 1000)
  const active = (claims: Record<string, unknown> = {}) => ({
    active: true,
    iss: 'https://scripted.issue-12.test',
    aud: AGENTS_RESOURCE,
    sub: 'svc-1',
    name: 'Service one',
    iat: now(),
    exp: now() + 300,
    ...claims,
  })

  it('item 5: refuses an introspection answer issued in the future, or after it expires', async () => {
    const good = scriptedIssuer(active())
    expect((await good.gateway.fetch('/packs/opaque/run', bearer('opaque-token-1'))).status).toBe(200)
    const future = scriptedIssuer(active({ iat: now() + 365 * 86_400, exp: now() + 366 * 86_400 }))
    const lines = await logged(async () => {
      const response = await future.gateway.fetch('/packs/opaque/run', bearer('opaque-token-2'))
      expect(response.status).toBe(401)
      expect(await detail(response)).toBe('The token is not valid yet.')
      const afterExp = scriptedIssuer(active({ iat: now() + 20, exp: now() + 10 }))
      expect((await afterExp.gateway.fetch('/packs/opaque/run', bearer('opaque-token-3'))).status).toBe(401)
    })
    expect(lines.map((line) => line['problem'])).toEqual(['issued_in_future', 'issued_after_expiry'])
  })

  it('item 12: a huge introspection answer is cached as the small invoker it maps to', async () => {
    // 500 KB of claims: far above what one cache entry may hold (32 KiB), so only the mapped
    // invoker, not the raw answer, can be what is cached.
    const huge = scriptedIssuer(active(), 500_000)
    const first = await huge.gateway.fetch('/packs/opaque/run', bearer('opaque-token-4'))
    expect(first.status).toBe(200)
    const { payload } = await verifiedInvoker(
      huge.gateway,
      ((await first.json()) as Echo).headers['x-invoker'] as string,
      'opaque',
    )
    expect(payload['invoker']).toEqual({ id: 'svc-1', kind: 'service', label: 'Service one', meta: {} })
    expect((await huge.gateway.fetch('/packs/opaque/run', bearer('opaque-token-4'))).status).toBe(200)
    expect(await hits(TROUBLE, huge.path)).toBe(1)
  })

  it('item 12: an answer over 1 MiB is refused while it is read, as a provider failing', async () => {
    const endless = scriptedIssuer(active(), 2_000_000)
    const lines = await logged(async () => {
      const response = await endless.gateway.fetch('/packs/opaque/run', bearer('opaque-token-5'))
      expect(response.status).toBe(503)
    })
    expect(lines[0]).toMatchObject({
      reason: 'issuer_unavailable',
      problem: 'introspection answered more than 1048576 bytes',
    })
  })
})
