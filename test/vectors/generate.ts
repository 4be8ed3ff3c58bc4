/**
 * Conformance vectors for the X-Invoker verifiers, made by the gateway's own signing code
 * (`invokerClaims` + `signInvokerToken`, keys loaded by `loadSigningKeys`) from the fixed test
 * keys in keys.json, at a fixed time. `npm run vectors` writes x-invoker.json; the JS and the
 * Python verifier test suites both read it, and test/node/vectors.test.ts fails when the file is
 * not what this script makes today, so a change to the token format reaches both verifiers.
 *
 * Each vector: a token (or none), the request the backend received, the verifier's clock and
 * options, and either the verified result or the one reason code it must be refused with.
 * Tokens the gateway would never sign (another typ, crit, a missing claim) are signed with the
 * gateway's key too, so the only thing wrong with each is the thing named.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { base64url, CompactSign, importJWK, type JWK } from 'jose'
import type { AuthFacts, Invoker } from '../../src/invoker.ts'
import { loadSigningKeys, type SigningKeySet } from '../../src/keys/signing-keys.ts'
import { invokerClaims, signInvokerToken, type InvokerClaims } from '../../src/pipeline/sign/invoker-jwt.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
export const VECTORS_PATH = join(HERE, 'x-invoker.json')

const ISSUER = 'https://gateway.example.test'
const AUDIENCE = 'crm'
const TOLERANCE = 5
/** iat of every token; exp is 60 s later (the gateway's default token_ttl). */
const T = 1_800_000_000
const TTL = 60
const UPSTREAM = 'https://crm.internal.example/agents/InternalCRMQuery/run'

type Expect =
  | { reason: string }
  | { invoker: Invoker; auth: Record<string, unknown>; body_verified: boolean; mcp: unknown; request_id: string }

export interface Vector {
  name: string
  /** Which verification keys: the public JWK set, or the HS256 secret. */
  keys: 'jwks' | 'secret'
  token: string | null
  request: { method: string; url: string }
  now: number
  options?: { audience?: string[]; algorithms?: string[]; url_rewrite?: { from: string; to: string } }
  /** 2: verify twice with one fresh replay cache; the first must pass, `expect` is the second. */
  uses?: number
  expect: Expect
}

export interface VectorFile {
  about: string
  generator: string
  verifier: { issuer: string; audience: string; clock_tolerance_seconds: number }
  jwks: { keys: JWK[] }
  /** The HS256 key's raw bytes, base64url (its JWK `k`). */
  secret: string
  vectors: Vector[]
}

interface TestKeys {
  gateway: { keys: JWK[] }
  hs256: { keys: JWK[] }
  stranger: JWK
}

const keysFile = (): TestKeys => JSON.parse(readFileSync(join(HERE, 'keys.json'), 'utf8')) as TestKeys

async function load(set: { keys: JWK[] }): Promise<SigningKeySet> {
  const loaded = await loadSigningKeys(JSON.stringify(set))
  if (!loaded.ok) throw new Error(loaded.problem)
  return loaded.keys
}

const API_KEY_INVOKER: Invoker = { id: 'apikey:ci-bot', kind: 'apiKey', label: 'CI', meta: { org: 'acme' } }
const API_KEY_AUTH: AuthFacts = { method: 'api_key', api_key: 'ci-bot' }

function claims(over: Partial<Parameters<typeof invokerClaims>[0]> = {}): InvokerClaims {
  return invokerClaims({
    issuer: ISSUER,
    audience: AUDIENCE,
    ttlSeconds: TTL,
    requestId: 'req-0001',
    invoker: API_KEY_INVOKER,
    auth: API_KEY_AUTH,
    method: 'POST',
    upstreamUrl: UPSTREAM,
    nowSeconds: T,
    ...over,
  })
}

const encoder = new TextEncoder()

/** Signs bytes with the gateway's signing key under a header the gateway would not write. */
async function signRaw(keys: SigningKeySet, payload: Uint8Array, header: Record<string, unknown>): Promise<string> {
  return new CompactSign(payload)
    .setProtectedHeader({ alg: keys.signer.alg, ...header } as { alg: string })
    .sign(keys.signer.key)
}

function ok(c: InvokerClaims & { mcp?: unknown }): Expect {
  return {
    invoker: c.invoker,
    auth: c.auth as unknown as Record<string, unknown>,
    body_verified: (c.auth as { body?: string }).body !== 'streamed',
    mcp: c.mcp ?? null,
    request_id: c.jti,
  }
}

const post = (url = `${UPSTREAM}?q=1`): Vector['request'] => ({ method: 'POST', url })
const NOW = T + 10

export async function generateVectors(): Promise<VectorFile> {
  const file = keysFile()
  const gateway = await load(file.gateway)
  const es256 = await load({ keys: [file.gateway.keys[1] as JWK, file.gateway.keys[0] as JWK] })
  const hs256 = await load(file.hs256)
  const stranger = await load({ keys: [file.stranger] })
  const jwks = { keys: gateway.publicJwks }
  const vectors: Vector[] = []
  const add = (v: Vector): void => void vectors.push(v)
  const valid = async (name: string, c: InvokerClaims, extra: Partial<Vector> = {}, keys = gateway): Promise<void> =>
    add({
      name,
      keys: keys === hs256 ? 'secret' : 'jwks',
      token: await signInvokerToken(c, keys),
      request: post(),
      now: NOW,
      ...extra,
      expect: ok(c),
    })
  const refused = async (
    name: string,
    reason: string,
    token: string | null,
    extra: Partial<Vector> = {},
  ): Promise<void> => add({ name, keys: 'jwks', token, request: post(), now: NOW, ...extra, expect: { reason } })
  const base = await signInvokerToken(claims(), gateway)

  // Accepted: each key type, each auth method, the optional claims, and the edges of the checks.
  await valid('EdDSA key, API key caller', claims())
  await valid(
    'ES256 key, bearer caller with nested meta',
    claims({
      method: 'GET',
      requestId: 'req-0002',
      invoker: {
        id: 'user-7f3a',
        kind: 'service',
        label: 'Reporting job',
        meta: { email: 'jobs@example.com', roles: ['reader', 'reports'], org: { id: 'acme', tier: 2 } },
      },
      auth: { method: 'bearer', issuer: 'corp-idp' },
    }),
    { request: { method: 'GET', url: `${UPSTREAM}` } },
    es256,
  )
  await valid(
    'HS256 secret, anonymous caller',
    claims({
      requestId: 'req-0003',
      invoker: { id: 'anon:3q2-7wMwx0yHhQ', kind: 'anonymous', meta: {} },
      auth: { method: 'anonymous' },
    }),
    {},
    hs256,
  )
  // The largest meta the gateway maps (8,192 characters), three UTF-8 bytes each: a 33 KiB token.
  await valid(
    'the largest meta the gateway signs, in three-byte characters',
    claims({
      requestId: 'req-0100',
      invoker: {
        id: 'user-wide',
        kind: 'authUser',
        meta: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`m${i}`, '\u65e5'.repeat(1020)])),
      },
      auth: { method: 'bearer', issuer: 'corp-idp' },
    }),
  )
  await valid(
    'signed request, delegated user, body verified',
    claims({
      requestId: 'req-0004',
      invoker: { id: 'chat-host:alice', kind: 'chat', meta: { signer: 'chat-host' } },
      auth: { method: 'envelope', signer: 'chat-host', on_behalf_of: 'alice', body: 'verified' } as AuthFacts,
    }),
  )
  await valid(
    'signed request, body streamed before the check',
    claims({
      requestId: 'req-0005',
      invoker: { id: 'chat-host', kind: 'agent', label: 'Chat host', meta: {} },
      auth: { method: 'envelope', signer: 'chat-host', body: 'streamed' } as AuthFacts,
    }),
  )
  const mcpTool = {
    ...claims({
      requestId: 'req-0006',
      auth: { method: 'session' },
      invoker: { id: 'user_42', kind: 'authUser', meta: { email: 'ana@example.com' } },
    }),
    mcp: { method: 'tools/call', tool: 'search_orders' },
  }
  add({
    name: 'MCP tool call',
    keys: 'jwks',
    token: await signInvokerToken(mcpTool, gateway),
    request: post(),
    now: NOW,
    expect: ok(mcpTool),
  })
  const mcpInit = { ...claims({ requestId: 'req-0007' }), mcp: { method: 'initialize' } }
  add({
    name: 'MCP method without a tool',
    keys: 'jwks',
    token: await signInvokerToken(mcpInit, gateway),
    request: post(),
    now: NOW,
    expect: ok(mcpInit),
  })
  await valid(
    'non-ASCII label and meta',
    claims({
      requestId: 'req-0008',
      invoker: { id: 'apikey:zoë', kind: 'apiKey', label: 'Zoë – 東京 ✓', meta: { city: 'Zürich', note: 'emoji 🚀' } },
    }),
  )
  await valid('one of several audiences', claims({ requestId: 'req-0009' }), { options: { audience: ['echo', 'crm'] } })
  await valid('a known URL rewrite', claims({ requestId: 'req-0010' }), {
    request: post('http://10.0.0.5:8080/agents/InternalCRMQuery/run?q=1'),
    options: { url_rewrite: { from: 'http://10.0.0.5:8080', to: 'https://crm.internal.example' } },
  })
  await valid('default port and upper-case host in the received URL', claims({ requestId: 'req-0011' }), {
    request: post('https://CRM.Internal.Example:443/agents/InternalCRMQuery/run'),
  })
  await valid('last second before expiry (exp + tolerance - 1)', claims({ requestId: 'req-0012' }), {
    now: T + TTL + TOLERANCE - 1,
  })
  await valid('issued in the future within the tolerance', claims({ requestId: 'req-0013' }), { now: T - TOLERANCE })

  // Refused, one reason at a time.
  await refused('no header', 'missing', null)
  await refused('not a JWS', 'malformed', 'not-a-token')
  await refused('two segments', 'malformed', base.split('.').slice(0, 2).join('.'))
  await refused('characters outside base64url', 'malformed', base.replace('.', '.*'))
  await refused('longer than 128 KiB', 'malformed', `${base}${'A'.repeat(128 * 1024)}`)
  await refused(
    'header is not JSON',
    'malformed',
    `${base64url.encode('{"alg":"EdDSA",')}.${base.split('.')[1]}.${base.split('.')[2]}`,
  )
  await refused(
    'alg none, empty signature',
    'malformed',
    `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'invoker+jwt', kid: 'vectors-ed25519' }))}.${base.split('.')[1]}.`,
  )
  await refused(
    'no kid',
    'malformed',
    await signRaw(gateway, encoder.encode(JSON.stringify(claims())), { typ: 'invoker+jwt' }),
  )
  // jose will not sign an unknown crit, so this one is put together by hand (RFC 7515 §5.1).
  const critInput = `${base64url.encode(JSON.stringify({ alg: 'EdDSA', typ: 'invoker+jwt', kid: gateway.signer.kid, crit: ['exp'], exp: T }))}.${base.split('.')[1]}`
  const critSignature = new Uint8Array(
    await crypto.subtle.sign('Ed25519', gateway.signer.key, encoder.encode(critInput)),
  )
  await refused('crit header', 'malformed', `${critInput}.${base64url.encode(critSignature)}`)
  await refused(
    'payload is not JSON',
    'malformed',
    await signRaw(gateway, encoder.encode('{"iss":'), { typ: 'invoker+jwt', kid: gateway.signer.kid }),
  )
  const { htu: _htu, ...noHtu } = claims()
  await refused('no htu claim', 'malformed', await signInvokerToken(noHtu as InvokerClaims, gateway))
  await refused(
    'sub is not invoker.id',
    'malformed',
    await signInvokerToken({ ...claims(), sub: 'apikey:someone-else' }, gateway),
  )
  await refused(
    'exp is a string',
    'malformed',
    await signInvokerToken({ ...claims(), exp: String(T + TTL) } as unknown as InvokerClaims, gateway),
  )
  await refused(
    'unknown auth.body state',
    'malformed',
    await signInvokerToken(
      claims({ auth: { method: 'envelope', signer: 'chat-host', body: 'unchecked' } as unknown as AuthFacts }),
      gateway,
    ),
  )
  await refused(
    'mcp without a method',
    'malformed',
    await signInvokerToken({ ...claims(), mcp: { tool: 'search' } } as InvokerClaims, gateway),
  )
  await refused(
    'typ JWT',
    'typ',
    await signRaw(gateway, encoder.encode(JSON.stringify(claims())), { typ: 'JWT', kid: gateway.signer.kid }),
  )
  await refused(
    'no typ',
    'typ',
    await signRaw(gateway, encoder.encode(JSON.stringify(claims())), { kid: gateway.signer.kid }),
  )
  await refused("another key under the gateway's kid", 'signature', await signInvokerToken(claims(), stranger))
  const other = await signInvokerToken(
    claims({ requestId: 'req-9999', invoker: { id: 'apikey:admin', kind: 'apiKey', meta: {} } }),
    gateway,
  )
  await refused(
    'payload swapped under a valid signature',
    'signature',
    `${base.split('.')[0]}.${other.split('.')[1]}.${base.split('.')[2]}`,
  )
  const edPublic = gateway.publicJwks[0] as JWK
  const confused = await new CompactSign(encoder.encode(JSON.stringify(claims())))
    .setProtectedHeader({ alg: 'HS256', typ: 'invoker+jwt', kid: gateway.signer.kid })
    .sign(base64url.decode(edPublic.x as string))
  await refused('HS256 signed with the public key (algorithm confusion)', 'signature', confused)
  await refused('ES256 token where only EdDSA is accepted', 'signature', await signInvokerToken(claims(), es256), {
    options: { algorithms: ['EdDSA'] },
  })
  await refused('EdDSA token where only HS256 is accepted', 'signature', base, { keys: 'secret' })
  await refused(
    'unknown kid',
    'key_unknown',
    await signInvokerToken(claims(), await load({ keys: [{ ...file.stranger, kid: 'retired-2025' }] })),
  )
  const edUnderEsKid = await new CompactSign(encoder.encode(JSON.stringify(claims())))
    .setProtectedHeader({ alg: 'EdDSA', typ: 'invoker+jwt', kid: 'vectors-p256' })
    .sign(await importJWK(file.gateway.keys[0] as JWK, 'EdDSA'))
  await refused('a kid whose key does not fit the alg', 'key_unknown', edUnderEsKid)
  await refused(
    'another issuer',
    'issuer',
    await signInvokerToken(claims({ issuer: 'https://other-gateway.example.test' }), gateway),
  )
  await refused('another pack', 'audience', await signInvokerToken(claims({ audience: 'echo' }), gateway))
  await refused('expired (exp + tolerance)', 'expired', base, { now: T + TTL + TOLERANCE })
  await refused('issued in the future beyond the tolerance', 'expired', base, { now: T - TOLERANCE - 1 })
  await refused('another method', 'wrong_request', base, { request: { method: 'GET', url: UPSTREAM } })
  await refused('method in lower case', 'wrong_request', base, { request: { method: 'post', url: UPSTREAM } })
  await refused('another path', 'wrong_request', base, {
    request: post('https://crm.internal.example/agents/InternalCRMQuery/delete'),
  })
  await refused('another host', 'wrong_request', base, {
    request: post('https://billing.internal.example/agents/InternalCRMQuery/run'),
  })
  await refused('another scheme', 'wrong_request', base, {
    request: post('http://crm.internal.example/agents/InternalCRMQuery/run'),
  })
  await refused('a received URL outside the rewrite', 'wrong_request', base, {
    request: post('http://10.0.0.6:8080/agents/InternalCRMQuery/run'),
    options: { url_rewrite: { from: 'http://10.0.0.5:8080', to: 'https://crm.internal.example' } },
  })
  await refused('a rewrite prefix matches whole segments only', 'wrong_request', base, {
    request: post('http://10.0.0.5:8080/apiary/agents/InternalCRMQuery/run'),
    options: { url_rewrite: { from: 'http://10.0.0.5:8080/api', to: 'https://crm.internal.example' } },
  })
  // The path is compared byte for byte: the gateway forwards the normalised path it decided on,
  // which is htu's, and a backend's router would dispatch these spellings elsewhere.
  const agents = 'https://crm.internal.example/agents'
  for (const [name, url] of [
    ['a dot-dot segment before the path', `${agents}/admin/../InternalCRMQuery/run`],
    ['an encoded dot-dot segment (%2e%2e)', `${agents}/admin/%2e%2e/InternalCRMQuery/run`],
    ['an encoded dot-dot segment (%2E%2E)', `${agents}/admin/%2E%2E/InternalCRMQuery/run`],
    ['a dot segment', `${agents}/./InternalCRMQuery/run`],
    ['a double slash', `${agents}//InternalCRMQuery/run`],
    ['a trailing slash', `${agents}/InternalCRMQuery/run/`],
    ['an escaped unreserved character', `${agents}/InternalCRMQuery/%72un`],
    ['a tab in the path (a URL parser strips it)', `${agents}/InternalCRMQuery/r\tun`],
    ['a fragment after the path', `${agents}/InternalCRMQuery/run#x`],
  ] as const) {
    await refused(`received path: ${name}`, 'wrong_request', base, { request: post(url) })
  }
  const escapedUrl = 'https://crm.internal.example/agents/caf%C3%A9.v2/run'
  const escaped = claims({ requestId: 'req-0014', upstreamUrl: escapedUrl })
  await valid('a path with escapes, byte for byte', escaped, { request: post(`${escapedUrl}?q=%41`) })
  const escapedToken = await signInvokerToken(escaped, gateway)
  for (const [name, url] of [
    ['escapes in lower case', 'https://crm.internal.example/agents/caf%c3%a9.v2/run'],
    ['the escape decoded', 'https://crm.internal.example/agents/café.v2/run'],
    ['a dot escaped (%2E)', 'https://crm.internal.example/agents/caf%C3%A9%2Ev2/run'],
  ] as const) {
    await refused(`received path: ${name}`, 'wrong_request', escapedToken, { request: post(url) })
  }
  // The host is compared as received, lower-cased, byte for byte with htu's (red team F4): a
  // URL parser would turn each of these spellings into the gateway's host, and the two verifiers
  // must not disagree on any of them. A default port spelled exactly so is the one allowance.
  await valid('an upper-case scheme', claims({ requestId: 'req-0015' }), {
    request: post('HTTPS://crm.internal.example/agents/InternalCRMQuery/run'),
  })
  const run = '/agents/InternalCRMQuery/run'
  for (const [name, host] of [
    ['a trailing dot', 'crm.internal.example.'],
    ['userinfo', 'x@crm.internal.example'],
    ['an empty userinfo', '@crm.internal.example'],
    ['escaped characters', '%63rm.internal.example'],
    ['the default port with a leading zero', 'crm.internal.example:0443'],
    ["the other scheme's default port", 'crm.internal.example:80'],
    ['an empty port', 'crm.internal.example:'],
    ['a backslash after it', 'crm.internal.example\\'],
    ['a non-ASCII spelling (the gateway sends punycode)', 'crm.internal.exämple'],
  ] as const) {
    await refused(`received host: ${name}`, 'wrong_request', base, { request: post(`https://${host}${run}`) })
  }
  const byAddress = claims({ requestId: 'req-0016', upstreamUrl: `http://127.0.0.1:8080${run}` })
  await valid('an IPv4 host and a port', byAddress, { request: post(`http://127.0.0.1:8080${run}?q=1`) })
  const byAddressToken = await signInvokerToken(byAddress, gateway)
  for (const [name, host] of [
    ['IPv4 shortened', '127.1:8080'],
    ['IPv4 in hex', '0x7f.0.0.1:8080'],
    ['IPv4 as one number', '2130706433:8080'],
    ['IPv4 in octal', '0177.0.0.1:8080'],
    ['IPv4 with a trailing dot', '127.0.0.1.:8080'],
    ['IPv4 escaped', '%31%32%37.0.0.1:8080'],
    ['a port with a leading zero', '127.0.0.1:08080'],
    ['IPv4 with userinfo', 'x@127.0.0.1:8080'],
  ] as const) {
    await refused(`received host: ${name}`, 'wrong_request', byAddressToken, { request: post(`http://${host}${run}`) })
  }
  const byV6 = claims({ requestId: 'req-0017', upstreamUrl: `http://[::1]${run}` })
  await valid('an IPv6 host, with its default port', byV6, { request: post(`http://[::1]:80${run}`) })
  await refused('received host: IPv6 written out', 'wrong_request', await signInvokerToken(byV6, gateway), {
    request: post(`http://[0:0:0:0:0:0:0:1]${run}`),
  })
  await refused('second use', 'replayed', base, { uses: 2 })

  return {
    about:
      'X-Invoker conformance vectors: both verifier packages must give exactly these results. Generated; do not edit by hand.',
    generator: 'test/vectors/generate.ts (npm run vectors)',
    verifier: { issuer: ISSUER, audience: AUDIENCE, clock_tolerance_seconds: TOLERANCE },
    jwks,
    secret: (file.hs256.keys[0] as JWK).k as string,
    vectors,
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(VECTORS_PATH, JSON.stringify(await generateVectors(), null, 2) + '\n')
  console.error(`wrote ${VECTORS_PATH}`)
}
