/**
 * Red team F3 and the delegation header: fields an edge or an identity proxy would set in front of
 * a backend (oauth2-proxy, Envoy, Cloudflare Access, Authelia, Traefik forward-auth, nginx client
 * certificates…) never reach the (real) backend as a caller sent them, and neither does a
 * caller's `On-Behalf-Of`: the identity travels in X-Invoker alone.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { gateway, mintKey, verifiedInvoker, type Echo, type Gateway, type MintedKey } from './harness.ts'

const PACKS = {
  plain: `
pack: plain
upstream: $BACKEND
match: { path_prefix: /packs/plain }
auth: [api_key]
`,
  passing: `
pack: passing
upstream: $BACKEND
match: { path_prefix: /packs/passing }
auth: [api_key]
pass_credentials: true
`,
}

/** What the red team sent (F3), each with a value a backend would read as identity or proof. */
const REPORTED = {
  'X-Forwarded-User': 'admin',
  'X-Forwarded-Email': 'admin@example.com',
  'X-Forwarded-Groups': 'admins',
  'X-Forwarded-Preferred-Username': 'admin',
  'X-Forwarded-Access-Token': 'forged-token',
  'X-Forwarded-Client-Cert': 'By=spiffe://cluster/ns/admin;URI=spiffe://cluster/ns/admin',
  'X-Forwarded-Protocol': 'https',
  'X-Auth-Request-User': 'admin',
  'X-Auth-Request-Email': 'admin@example.com',
  'Remote-User': 'admin',
  'X-Remote-User': 'admin',
  'X-WEBAUTH-USER': 'admin',
  'Cf-Access-Authenticated-User-Email': 'admin@example.com',
  'Cf-Access-Jwt-Assertion': 'forged.jwt.value',
  'CF-Visitor': '{"scheme":"https"}',
  'CF-IPCountry': 'US',
  'CF-Ray': '8f00000000000000-SJC',
  'Ssl-Client-Verify': 'SUCCESS',
  'X-SSL-Client-S-DN': 'CN=admin',
  'X-Client-Cert': '-----BEGIN CERTIFICATE-----',
}

/** The other proxies' fields the gateway drops (forward/headers.ts lists why). */
const OTHER_PROXIES = {
  'Remote-Groups': 'admins',
  'X-Remote-Group': 'system:masters',
  'X-Remote-Extra-Scopes': 'all',
  'X-Authentik-Username': 'admin',
  'X-Vouch-User': 'admin',
  'X-Pomerium-Jwt-Assertion': 'forged.jwt.value',
  'X-Amzn-Oidc-Identity': 'admin',
  'X-Amzn-Oidc-Data': 'forged.jwt.value',
  'X-MS-Client-Principal-Name': 'admin@example.com',
  'X-MS-Client-Principal': 'eyJhdXRoX3R5cCI6ImFhZCJ9',
  'X-MS-Token-AAD-Access-Token': 'forged-token',
  'X-Goog-Authenticated-User-Email': 'accounts.google.com:admin@example.com',
  'X-Goog-IAP-JWT-Assertion': 'forged.jwt.value',
  'X-Consumer-Username': 'admin',
  'X-Authenticated-Userid': 'admin',
  'X-Authenticated-User': 'admin',
  'X-Credential-Identifier': 'admin',
  'X-Anonymous-Consumer': 'false',
  'X-Userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
  'X-SSL-Cert': '-----BEGIN CERTIFICATE-----',
  'X-Client-Verify': 'SUCCESS',
  'X-Envoy-Original-Path': '/admin',
  'X-Forwarded-Anything': 'x',
}

let gw: Gateway
let alice: MintedKey

beforeAll(async () => {
  alice = await mintKey('alice')
  gw = gateway(PACKS, `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`)
})

async function echo(path: string, headers: Record<string, string>): Promise<Echo> {
  const response = await gw.fetch(path, { headers: { 'x-api-key': alice.key, ...headers } })
  expect(response.status).toBe(200)
  return (await response.json()) as Echo
}

describe('identity and edge fields a caller sets', () => {
  it('F3: the fields the red team reported never reach the backend', async () => {
    const received = await echo('/packs/plain/x', REPORTED)
    for (const name of Object.keys(REPORTED)) expect(received.headers[name.toLowerCase()], name).toBeUndefined()
    // The forwarding fields the backend gets are the gateway's.
    expect(received.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(received.headers['x-forwarded-proto']).toBe('https')
    expect(received.headers['x-forwarded-host']).toBe('gw.test')
  })

  it("F3: other identity proxies' fields, and their spellings with `_`, are dropped too", async () => {
    const underscored = Object.fromEntries(
      Object.entries(REPORTED).map(([name, value]) => [name.replaceAll('-', '_'), value]),
    )
    const received = await echo('/packs/plain/x', { ...OTHER_PROXIES, ...underscored, 'CF-Worker': 'attacker.example' })
    for (const name of [...Object.keys(OTHER_PROXIES), ...Object.keys(underscored)])
      expect(received.headers[name.toLowerCase()], name).toBeUndefined()
    // The runtime names the Worker's zone in CF-Worker on every subrequest; the caller's is gone.
    expect(received.headers['cf-worker']).not.toContain('attacker.example')
  })

  it('pass 9: the fields of more platforms, and dotted spellings (PHP reads `.` as `_`), are dropped too', async () => {
    const platforms = {
      'X-ARR-ClientCert': 'MIIBforged',
      'X-Amzn-Mtls-Clientcert-Subject': 'CN=admin',
      'X-Amzn-Mtls-Clientcert-Leaf': 'forged',
      'X-Appengine-User-Email': 'admin@example.com',
      'X-Appengine-User-Is-Admin': '1',
      'X-Apigateway-Api-Userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
      'X-Endpoint-API-UserInfo': 'eyJzdWIiOiJhZG1pbiJ9',
      'Tailscale-User-Login': 'admin@example.com',
      'X-JWT-Assertion': 'forged.jwt.value',
      'Fly-Client-IP': '10.0.0.1',
      'X-Vercel-Forwarded-For': '10.0.0.1',
      'X-Original-Forwarded-For': '10.0.0.1',
      'X-Middleware-Subrequest': 'middleware:middleware:middleware',
    }
    const dotted = {
      'Remote.User': 'admin',
      'X.Forwarded.User': 'admin',
      'X-Auth-Request.Email': 'a@b.c',
      'On.Behalf.Of': 'x',
    }
    const received = await echo('/packs/plain/x', { ...platforms, ...dotted })
    for (const name of [...Object.keys(platforms), ...Object.keys(dotted)])
      expect(received.headers[name.toLowerCase()], name).toBeUndefined()
  })

  it('F3: pass_credentials does not let them through', async () => {
    const received = await echo('/packs/passing/x', { ...REPORTED, ...OTHER_PROXIES })
    for (const name of [...Object.keys(REPORTED), ...Object.keys(OTHER_PROXIES)])
      expect(received.headers[name.toLowerCase()], name).toBeUndefined()
    expect(received.headers['x-api-key']).toBe(alice.key)
  })

  it("keeps the caller's other fields, including names that only look alike", async () => {
    const kept = {
      'x-user': 'chosen by the client',
      'x-email': 'someone@example.com',
      'x-client-name': 'cli',
      'x-request-source': 'ui',
      'x-forwardedness': 'x',
      'remotely-set': 'x',
      ssl: 'x',
      'cfg-version': '2',
      'x-ms-version': '2024-01-01',
      'x-goog-api-client': 'gl-node/20',
      'x-amz-date': '20260101T000000Z',
      accept: 'application/json',
    }
    const received = await echo('/packs/plain/x', kept)
    for (const [name, value] of Object.entries(kept)) expect(received.headers[name], name).toBe(value)
  })
})

describe('the delegation header', () => {
  it('a caller-set On-Behalf-Of never reaches the backend, on a pack that does not take signed requests', async () => {
    const received = await echo('/packs/plain/x', { 'On-Behalf-Of': 'admin', on_behalf_of: 'admin' })
    expect(received.headers['on-behalf-of']).toBeUndefined()
    expect(received.headers['on_behalf_of']).toBeUndefined()
    const { payload } = await verifiedInvoker(gw, received.headers['x-invoker'] as string, 'plain')
    expect(payload['sub']).toBe('apikey:alice')
  })

  it('pass_credentials forwards it, as it forwards the credential', async () => {
    const received = await echo('/packs/passing/x', { 'On-Behalf-Of': 'admin' })
    expect(received.headers['on-behalf-of']).toBe('admin')
  })
})
