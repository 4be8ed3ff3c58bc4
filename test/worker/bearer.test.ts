/**
 * Bearer tokens against real OpenID providers (oidc-provider on loopback, started by the global
 * setup): JWT access tokens through the JWKS, opaque tokens through RFC 7662 introspection, an
 * HS256 shared secret, inline keys, rotation, JWKS outages, scopes, and the attack list.
 */
import { env } from 'cloudflare:test'
import { exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  AGENTS_RESOURCE,
  clientCredentialsToken,
  OIDC_CLIENTS,
  OPAQUE_RESOURCE,
  OTHER_RESOURCE,
} from '../support/oidc-client.ts'
import { backendOrigin, gateway, verifiedInvoker, type Echo, type Gateway } from './harness.ts'

const IDP = env.TEST_OIDC_ISSUER
const VOLATILE = env.TEST_VOLATILE_ISSUER
const A2A_SECRET = 'a2a-shared-secret-for-tests-0123456789abcdef'
const INLINE_ISS = 'https://inline.issuer.test'

const SECRETS = { IDP_INTROSPECTION_SECRET: OIDC_CLIENTS.gateway.secret, A2A_SHARED_SECRET: A2A_SECRET }

const PACKS = {
  agents: `
pack: agents
upstream: $BACKEND
match: { path_prefix: /packs/agents }
auth: [bearer]
`,
  writers: `
pack: writers
upstream: $BACKEND
match: { path_prefix: /packs/writers }
auth: [bearer]
bearer:
  issuers: [idp]
  scopes: { all_of: [agents:write] }
`,
  readers: `
pack: readers
upstream: $BACKEND
match: { path_prefix: /packs/readers }
auth: [bearer]
bearer:
  issuers: [idp]
  scopes: { any_of: [agents:read, admin] }
`,
  partners: `
pack: partners
upstream: $BACKEND
match: { path_prefix: /packs/partners }
auth: [bearer]
bearer: { issuers: [a2a] }
`,
  keys: `
pack: keys
upstream: $BACKEND
match: { path_prefix: /packs/keys }
auth: [api_key]
`,
  browser: `
pack: browser
upstream: $BACKEND
match: { path_prefix: /packs/browser }
auth: [bearer, session]
bearer: { issuers: [inline] }
`,
}

let inlineKey: CryptoKey
let inlinePublic: JWK

function gatewayYaml(jwksCache = '{ max_age: 10m, cooldown: 30s, stale: 1h, timeout: 500ms }'): string {
  return `
issuer: https://gateway.test
issuers:
  idp:
    issuer: ${IDP}
    jwks_uri: ${IDP}/jwks
    audience: [${AGENTS_RESOURCE}, ${OPAQUE_RESOURCE}]
    algorithms: [ES256]
    typ: at+jwt
    clock_tolerance: 0s
    jwks_cache: ${jwksCache}
    introspection:
      endpoint: ${IDP}/token/introspection
      client_id: ${OIDC_CLIENTS.gateway.id}
      client_secret: IDP_INTROSPECTION_SECRET
    claims: { label: client_name, meta: { org: org_id, scope: scope } }
  volatile:
    issuer: ${VOLATILE}
    jwks_uri: ${VOLATILE}/jwks
    audience: ${AGENTS_RESOURCE}
    algorithms: [ES256]
    jwks_cache: ${jwksCache}
  a2a:
    issuer: https://a2a.partner.test
    secret: A2A_SHARED_SECRET
    audience: ${AGENTS_RESOURCE}
    algorithms: [HS256]
    claims: { kind: agent }
  inline:
    issuer: ${INLINE_ISS}
    jwks: { keys: [${JSON.stringify(inlinePublic)}] }
    audience: ${AGENTS_RESOURCE}
    algorithms: [EdDSA]
    claims: { email: email }
session:
  cookies: [sid]
  jwt: { issuer: inline }
`
}

let gw: Gateway
afterEach(() => void vi.restoreAllMocks())

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true })
  inlineKey = pair.privateKey
  inlinePublic = { ...(await exportJWK(pair.publicKey)), kid: 'inline-1', alg: 'EdDSA' }
  gw = gateway(PACKS, gatewayYaml(), undefined, SECRETS)
})

const token = (
  client: { id: string; secret: string } = OIDC_CLIENTS.agent,
  options: { resource?: string; scope?: string } = { scope: 'agents:read' },
  issuer = IDP,
) => clientCredentialsToken(`${issuer}/token`, client, options)

const b64 = (value: unknown): string =>
  btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')

/**
 * A token signed with the inline issuer's key, built by hand so that a test can set any header
 * or claim (jose's signer rightly refuses to produce some of the attacks below).
 */
async function inlineToken(
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const payload = {
    iss: INLINE_ISS,
    aud: AGENTS_RESOURCE,
    sub: 'user-7',
    email: 'seven@example.com',
    iat: now,
    exp: now + 300,
    ...claims,
  }
  for (const [name, value] of Object.entries(payload))
    if (value === undefined) delete payload[name as keyof typeof payload]
  const input = `${b64({ alg: 'EdDSA', kid: 'inline-1', ...header })}.${b64(payload)}`
  const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', inlineKey, new TextEncoder().encode(input)))
  return `${input}.${btoa(String.fromCharCode(...signature))
    .replace(/=+$/, '')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')}`
}

const bearer = (value: string): RequestInit => ({ headers: { authorization: `Bearer ${value}` } })

async function expectInvalidToken(
  response: Response,
  description = 'The token is not valid for this pack.',
): Promise<void> {
  expect(response.status).toBe(401)
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  // A pack that also takes sessions names their Cookie challenge after the Bearer one (item 14).
  const challenge = `Bearer realm="invoker-gateway", error="invalid_token", error_description="${description}"`
  expect([challenge, `${challenge}, Cookie realm="invoker-gateway", cookie-name="sid"`]).toContain(
    response.headers.get('www-authenticate'),
  )
  const body = (await response.json()) as { detail: string }
  expect(body.detail).toBe(description)
}

describe('bearer JWTs from a real OpenID provider', () => {
  it('accepts a JWT access token and signs the mapped invoker for the backend', async () => {
    const response = await gw.fetch('/packs/agents/run', bearer(await token()))
    expect(response.status).toBe(200)
    const echo = (await response.json()) as Echo
    expect(echo.headers['authorization']).toBeUndefined()
    const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'agents')
    expect(payload).toMatchObject({
      sub: OIDC_CLIENTS.agent.id,
      invoker: {
        id: OIDC_CLIENTS.agent.id,
        kind: 'service',
        label: `client ${OIDC_CLIENTS.agent.id}`,
        meta: { org: 'acme', scope: 'agents:read' },
      },
      auth: { method: 'bearer', issuer: 'idp' },
      htu: `${backendOrigin()}/run`,
    })
  })

  it('accepts an opaque token through introspection, and caches the answer', async () => {
    const opaque = await token(OIDC_CLIENTS.agent, { resource: OPAQUE_RESOURCE, scope: 'agents:read' })
    expect(opaque.split('.')).toHaveLength(1)
    const first = await gw.fetch('/packs/agents/run', bearer(opaque))
    expect(first.status).toBe(200)
    const { payload } = await verifiedInvoker(
      gw,
      ((await first.json()) as Echo).headers['x-invoker'] as string,
      'agents',
    )
    expect(payload['invoker']).toMatchObject({ id: OIDC_CLIENTS.agent.id, kind: 'service', meta: { org: 'acme' } })
    expect(payload['auth']).toEqual({ method: 'bearer', issuer: 'idp' })
    // Without the introspection secret the gateway could not ask again: the answer is cached.
    const withoutSecret = { ...bearer(opaque), bindings: { IDP_INTROSPECTION_SECRET: undefined } }
    expect((await gw.fetch('/packs/agents/run', withoutSecret)).status).toBe(200)
    // A token it has not seen yet does need the endpoint, which it cannot ask without the secret.
    const fresh = await token(OIDC_CLIENTS.agent, { resource: OPAQUE_RESOURCE, scope: 'agents:read' })
    expect(
      (await gw.fetch('/packs/agents/run', { ...bearer(fresh), bindings: { IDP_INTROSPECTION_SECRET: undefined } }))
        .status,
    ).toBe(503)
  })

  it('refuses an opaque token the provider does not know, and refuses introspection without its secret with 503', async () => {
    await expectInvalidToken(
      await gw.fetch('/packs/agents/run', bearer('not-a-token-the-idp-issued')),
      'The token is not active.',
    )
    const noSecret = gateway(PACKS, gatewayYaml(), undefined, { A2A_SHARED_SECRET: A2A_SECRET })
    const response = await noSecret.fetch('/packs/agents/run', bearer('another-opaque-token'))
    expect(response.status).toBe(503)
  })

  it('refuses a token after it expires', async () => {
    const shortLived = await token(OIDC_CLIENTS.shortLived)
    expect((await gw.fetch('/packs/agents/run', bearer(shortLived))).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 2_100))
    await expectInvalidToken(await gw.fetch('/packs/agents/run', bearer(shortLived)), 'The token has expired.')
  })

  it('refuses a token issued for another audience', async () => {
    await expectInvalidToken(
      await gw.fetch(
        '/packs/agents/run',
        bearer(await token(OIDC_CLIENTS.agent, { resource: OTHER_RESOURCE, scope: 'agents:read' })),
      ),
    )
  })

  it('logs why a token was refused, and never the token', async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const other = await token(OIDC_CLIENTS.agent, { resource: OTHER_RESOURCE, scope: 'agents:read' })
    expect((await gw.fetch('/packs/agents/run', bearer(other))).status).toBe(401)
    const line = JSON.parse(lines.find((l) => l.includes('"reason":"bearer_invalid"')) as string) as Record<
      string,
      unknown
    >
    expect(line).toMatchObject({ decision: 'deny', reason: 'bearer_invalid', problem: 'audience', status: 401 })
    expect(lines.join('\n')).not.toContain(other.split('.')[2])
  })

  it('refuses a token from an issuer the gateway does not know', async () => {
    const stranger = await token(OIDC_CLIENTS.agent, { scope: 'agents:read' }, env.TEST_STRANGER_ISSUER)
    await expectInvalidToken(await gw.fetch('/packs/agents/run', bearer(stranger)))
  })

  it('refuses a token from a configured issuer the pack does not accept, even once verified for another pack', async () => {
    const verified = await token()
    expect((await gw.fetch('/packs/agents/run', bearer(verified))).status).toBe(200)
    await expectInvalidToken(await gw.fetch('/packs/partners/run', bearer(verified)))
  })

  it('refuses a bearer token on a pack that does not accept bearer tokens', async () => {
    const response = await gw.fetch('/packs/keys/run', bearer(await token()))
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'This pack does not accept bearer token credentials.',
    )
  })
})

describe('scopes', () => {
  it('answers 403 insufficient_scope naming the scope a token lacks', async () => {
    const response = await gw.fetch('/packs/writers/run', bearer(await token()))
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="invoker-gateway", error="insufficient_scope", scope="agents:write"',
    )
    expect(((await response.json()) as { detail: string }).detail).toBe('The token lacks the scopes: agents:write.')
    expect(
      (
        await gw.fetch(
          '/packs/writers/run',
          bearer(await token(OIDC_CLIENTS.agent, { scope: 'agents:read agents:write' })),
        )
      ).status,
    ).toBe(200)
  })

  it('accepts any one of the any_of scopes and refuses none of them', async () => {
    expect(
      (await gw.fetch('/packs/readers/run', bearer(await token(OIDC_CLIENTS.agent, { scope: 'admin' })))).status,
    ).toBe(200)
    const response = await gw.fetch(
      '/packs/readers/run',
      bearer(await token(OIDC_CLIENTS.agent, { scope: 'agents:write' })),
    )
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toContain('scope="agents:read admin"')
  })
})

describe('key rotation and JWKS outages', () => {
  const control = (path: string) => fetch(`${VOLATILE}/__control/${path}`, { method: 'POST' })
  const volatileToken = () => token(OIDC_CLIENTS.agent, { scope: 'agents:read' }, VOLATILE)

  it('accepts tokens of a new key at once and refuses tokens of the rotated-out key', async () => {
    const rotating = gateway(
      PACKS,
      gatewayYaml('{ max_age: 10m, cooldown: 0s, stale: 1h, timeout: 500ms }'),
      undefined,
      SECRETS,
    )
    const old = await volatileToken()
    expect((await rotating.fetch('/packs/agents/run', bearer(old))).status).toBe(200)
    expect((await control('rotate')).status).toBe(204)
    const fresh = await volatileToken()
    expect((await rotating.fetch('/packs/agents/run', bearer(fresh))).status).toBe(200)
    await expectInvalidToken(await rotating.fetch('/packs/agents/run', bearer(old)))
  })

  it('keeps accepting valid tokens with the last good keys while the JWKS endpoint is down or hangs', async () => {
    const caching = gateway(
      PACKS,
      gatewayYaml('{ max_age: 1s, cooldown: 0s, stale: 1h, timeout: 300ms }'),
      undefined,
      SECRETS,
    )
    const valid = await volatileToken()
    expect((await caching.fetch('/packs/agents/run', bearer(valid))).status).toBe(200)
    try {
      for (const mode of ['down', 'hang']) {
        expect((await control(`jwks?mode=${mode}`)).status).toBe(204)
        await new Promise((resolve) => setTimeout(resolve, 1_100)) // past max_age: the set refreshes
        const started = Date.now()
        expect((await caching.fetch('/packs/agents/run', bearer(valid))).status, mode).toBe(200)
        expect(Date.now() - started, mode).toBeLessThan(1_500)
      }
    } finally {
      await control('jwks?mode=up')
    }
  })

  it('answers 503, in bounded time, when the JWKS endpoint fails and no keys were ever fetched', async () => {
    const valid = await volatileToken()
    try {
      for (const mode of ['down', 'hang']) {
        expect((await control(`jwks?mode=${mode}`)).status).toBe(204)
        const cold = gateway(
          PACKS,
          gatewayYaml('{ max_age: 10m, cooldown: 30s, stale: 1h, timeout: 300ms }'),
          undefined,
          SECRETS,
        )
        const started = Date.now()
        const response = await cold.fetch('/packs/agents/run', bearer(valid))
        expect(response.status, mode).toBe(503)
        expect(response.headers.get('retry-after')).toBe('5')
        expect(Date.now() - started, mode).toBeLessThan(1_500)
      }
    } finally {
      await control('jwks?mode=up')
    }
  })
})

describe('other key sources', () => {
  const a2aToken = (secret: string, alg = 'HS256') =>
    new SignJWT({ sub: 'partner-scheduler' })
      .setProtectedHeader({ alg })
      .setIssuer('https://a2a.partner.test')
      .setAudience(AGENTS_RESOURCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret))

  it('verifies an HS256 token with the shared secret from a Worker secret', async () => {
    const response = await gw.fetch('/packs/partners/run', bearer(await a2aToken(A2A_SECRET)))
    expect(response.status).toBe(200)
    const { payload } = await verifiedInvoker(
      gw,
      ((await response.json()) as Echo).headers['x-invoker'] as string,
      'partners',
    )
    expect(payload['invoker']).toMatchObject({ id: 'partner-scheduler', kind: 'agent' })
    await expectInvalidToken(
      await gw.fetch('/packs/partners/run', bearer(await a2aToken('another-secret-of-the-same-length-0123456'))),
    )
    await expectInvalidToken(await gw.fetch('/packs/partners/run', bearer(await a2aToken(A2A_SECRET, 'HS512'))))
  })

  it('answers 503 when the shared secret is not set in the deployment', async () => {
    const unset = gateway(PACKS, gatewayYaml(), undefined, { IDP_INTROSPECTION_SECRET: 'x' })
    expect((await unset.fetch('/packs/partners/run', bearer(await a2aToken(A2A_SECRET)))).status).toBe(503)
  })

  it('answers 503 when the shared secret is shorter than 32 bytes, even to a token it signed (RFC 7518 §3.2)', async () => {
    const short = 'a-secret-of-31-bytes-0123456789'
    const weak = gateway(PACKS, gatewayYaml(), undefined, { ...SECRETS, A2A_SHARED_SECRET: short })
    expect((await weak.fetch('/packs/partners/run', bearer(await a2aToken(short)))).status).toBe(503)
  })

  it('verifies tokens against inline keys and maps the email claim', async () => {
    const response = await gw.fetch('/packs/browser/run', bearer(await inlineToken()))
    expect(response.status).toBe(200)
    const { payload } = await verifiedInvoker(
      gw,
      ((await response.json()) as Echo).headers['x-invoker'] as string,
      'browser',
    )
    expect(payload['invoker']).toEqual({ id: 'user-7', kind: 'service', meta: { email: 'seven@example.com' } })
  })

  it('verifies a JWT session cookie like a bearer token, as a signed-in user', async () => {
    const response = await gw.fetch('/packs/browser/run', {
      headers: { cookie: `theme=dark; sid=${await inlineToken()}` },
    })
    expect(response.status).toBe(200)
    const echo = (await response.json()) as Echo
    expect(echo.headers['cookie']).toBe('theme=dark')
    const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'browser')
    expect(payload['invoker']).toEqual({ id: 'user-7', kind: 'authUser', meta: { email: 'seven@example.com' } })
    expect(payload['auth']).toEqual({ method: 'session', issuer: 'inline' })
    expect(
      (await gw.fetch('/packs/browser/run', { headers: { cookie: `sid=${await inlineToken({ exp: 1_000 })}` } }))
        .status,
    ).toBe(401)
  })
})

describe('attacks on bearer tokens', () => {
  const claims = () => ({
    iss: IDP,
    aud: AGENTS_RESOURCE,
    sub: 'mallory',
    exp: Math.floor(Date.now() / 1000) + 300,
    scope: 'agents:read admin',
  })

  it('refuses alg: none', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      await expectInvalidToken(
        await gw.fetch('/packs/agents/run', bearer(`${b64({ alg, typ: 'at+jwt' })}.${b64(claims())}.`)),
      )
    }
  })

  it("refuses HS256 signed with the issuer's public key (JWK and PEM forms)", async () => {
    const { keys } = (await (await fetch(`${IDP}/jwks`)).json()) as { keys: JWK[] }
    const publicJwk = keys[0] as JWK
    const pem = await exportSPKI((await importJWK(publicJwk, 'ES256', { extractable: true })) as CryptoKey)
    for (const secret of [JSON.stringify(publicJwk), pem, publicJwk.x as string]) {
      const forged = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk.kid as string })
        .sign(new TextEncoder().encode(secret))
      await expectInvalidToken(await gw.fetch('/packs/agents/run', bearer(forged)))
    }
  })

  it('refuses a kid that names no configured key, and never follows jku or trusts an embedded jwk', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true })
    const attackerJwk = await exportJWK(attacker.publicKey)
    const jku = `${backendOrigin()}/_control/signal?name=jku-fetched`
    const headers = [{ kid: 'attacker-key' }, { kid: 'attacker-key', jku }, { jwk: attackerJwk }, { x5u: jku }]
    for (const extra of headers) {
      const forged = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...extra })
        .sign(attacker.privateKey)
      await expectInvalidToken(await gw.fetch('/packs/agents/run', bearer(forged)))
    }
    expect(await (await fetch(`${backendOrigin()}/_control/seen?name=jku-fetched`)).text()).toBe('false')
  })

  it('refuses a token whose exp is far past, one without exp, and one not yet valid', async () => {
    await expectInvalidToken(
      await gw.fetch('/packs/browser/run', bearer(await inlineToken({ exp: 1_000_000_000, iat: 999_999_000 }))),
      'The token has expired.',
    )
    await expectInvalidToken(await gw.fetch('/packs/browser/run', bearer(await inlineToken({ exp: undefined }))))
    const later = Math.floor(Date.now() / 1000) + 3600
    await expectInvalidToken(
      await gw.fetch('/packs/browser/run', bearer(await inlineToken({ nbf: later }))),
      'The token is not valid yet.',
    )
  })

  it('refuses a token of the wrong type where the issuer pins one, and an unknown crit header', async () => {
    const typed = gateway(
      PACKS,
      gatewayYaml().replace('    claims: { email: email }', '    typ: at+jwt\n    claims: { email: email }'),
      undefined,
      SECRETS,
    )
    expect((await typed.fetch('/packs/browser/run', bearer(await inlineToken({}, { typ: 'at+jwt' })))).status).toBe(200)
    await expectInvalidToken(await typed.fetch('/packs/browser/run', bearer(await inlineToken({}, { typ: 'JWT' }))))
    await expectInvalidToken(
      await gw.fetch('/packs/browser/run', bearer(await inlineToken({}, { crit: ['exp-hint'], 'exp-hint': 1 }))),
    )
    await expectInvalidToken(
      await gw.fetch('/packs/browser/run', bearer(await inlineToken({}, { crit: ['b64'], b64: false }))),
    )
  })

  it("refuses a token signed by one trusted issuer's key that claims to be another issuer", async () => {
    const swapped = await inlineToken({ iss: IDP, scope: 'agents:read' }, { typ: 'at+jwt' })
    await expectInvalidToken(await gw.fetch('/packs/agents/run', bearer(swapped)))
  })

  it('refuses a 100 KB token with 401, not 500', async () => {
    const huge = `${b64({ alg: 'ES256' })}.${b64({ ...claims(), pad: 'x'.repeat(100_000) })}.sig`
    const response = await gw.fetch('/packs/agents/run', bearer(huge))
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe('The credential is too large.')
  })

  it('refuses garbage that looks like a JWT with 401', async () => {
    for (const garbage of [
      'a.b.c',
      `${b64({ alg: 'ES256' })}.%%%.x`,
      `${b64('str')}.${b64([1])}.x`,
      `${b64({ alg: 'ES256' })}.${b64({ iss: 7 })}.x`,
    ]) {
      const response = await gw.fetch('/packs/agents/run', bearer(garbage))
      expect(response.status, garbage).toBe(401)
    }
  })

  it('refuses a session cookie and a bearer token together, even for different users', async () => {
    const response = await gw.fetch('/packs/browser/run', {
      headers: {
        authorization: `Bearer ${await inlineToken({ sub: 'bob' })}`,
        cookie: `sid=${await inlineToken({ sub: 'alice' })}`,
      },
    })
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'More than one credential was presented; send exactly one.',
    )
  })
})
