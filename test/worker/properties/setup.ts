/**
 * The gateway the property tests throw generated input at (issue 12, "A standing defence"): one
 * policy with every credential kind, built from inline YAML and run in workerd in front of the
 * real test backend, the real key directory of the independent signers, and the Durable Object
 * store. Properties are written against behaviour (status classes, what the backend received),
 * not internals, so they keep holding while the request path changes underneath them.
 *
 * Runs are bounded (`numRuns`) and seeded so that CI takes the same few seconds every time;
 * `PROPERTY_SEED` in the environment picks another seed to explore (a failure prints its seed
 * and counterexample).
 */
import { env } from 'cloudflare:test'
import fc from 'fast-check'
import { expect } from 'vitest'
import { generateApiKey } from '../../../src/keys/api-key-format.ts'
import { gateway, mintKey, type Gateway, type MintedKey } from '../harness.ts'
import { localSigner, type LocalSigner } from '../local-signer.ts'

export const GW = 'https://gw.test'
export const AUDIENCE = 'https://agents.test'
export const PARTNER_ISS = 'https://partner.test'
export const PARTNER_SECRET = 'partner-shared-secret-0123456789abcdef0123'
export const ADMIN_TOKEN = 'property-admin-token-0123456789abcdef'
export const SESSION_COOKIE = 'sid'

/**
 * The longest a request may take: what the policy below allows one request in all (a key
 * directory fetch, 1 s; a store call, 3 s, generous because a Durable Object's first call can be
 * slow on a loaded machine; the backend's headers, 2 s) plus slack. A request still pending after
 * this is a hang.
 */
export const REQUEST_DEADLINE_MS = 8_000

/** Each property's own budget (a few seconds here; vitest's 5 s default is too tight on a loaded machine). */
export const PROPERTY_TIMEOUT_MS = 30_000

export const seed = env.TEST_PROPERTY_SEED ? Number(env.TEST_PROPERTY_SEED) : 20261212

export interface PropertyGateway {
  gw: Gateway
  alice: MintedKey
  bob: MintedKey
  signer: LocalSigner
  directory: { origin: string; keyid: string }
}

const PACKS = {
  // API keys; an agent only alice may call. bob's key is valid, so paths decide what he reaches.
  keys: `
pack: keys
upstream: $BACKEND
match: { path_prefix: /packs/keys }
auth: [api_key]
agents:
  Secret:
    path: /agents/secret/**
    allow: [{ api_key: alice }]
`,
  // Bearer tokens (HS256 from a shared secret) and session cookies holding such tokens.
  tokens: `
pack: tokens
upstream: $BACKEND
match: { path_prefix: /packs/tokens }
auth: [bearer, session, api_key]
`,
  // Signed requests: the local signer (which may delegate) and the trusted key directory.
  signed: `
pack: signed
upstream: $BACKEND
match: { path_prefix: /packs/signed }
auth: [envelope]
`,
}

export async function propertyGateway(): Promise<PropertyGateway> {
  const signer = await localSigner('local-1')
  const alice = await mintKey('alice')
  const bob = await mintKey('bob')
  const bot = (
    (await (await fetch(`${env.TEST_SIGNERS_ORIGIN}/keys`)).json()) as { bot: { keyid: string; directory: string } }
  ).bot
  const yaml = `
issuer: https://gateway.test
upstream_timeout: 2s
store_timeout: 3s
api_keys:
${alice.yaml}${bob.yaml}
issuers:
  partner:
    issuer: ${PARTNER_ISS}
    secret: PARTNER_SECRET
    audience: ${AUDIENCE}
    algorithms: [HS256]
    claims: { email: email, label: name, meta: { groups: groups } }
session:
  cookies: [${SESSION_COOKIE}]
  jwt: { issuer: partner }
signers:
  local:
    keyid: local-1
    algorithm: ed25519
    jwk: ${JSON.stringify(signer.jwk)}
    delegate: true
    invoker: { id: local, kind: agent }
key_directories:
  - origin: ${bot.directory}
envelope: { max_age: 5m, clock_skew: 30s, directory_timeout: 1s }
`
  const gw = gateway(PACKS, yaml, undefined, {
    PARTNER_SECRET,
    GATEWAY_STORE: env.GATEWAY_STORE,
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
  })
  return { gw, alice, bob, signer, directory: { origin: bot.directory, keyid: bot.keyid } }
}

export interface Outcome {
  status: number
  contentType: string | null
  body: string
}

/**
 * Sends one request and reads the whole answer, failing the property if that takes longer than
 * {@link REQUEST_DEADLINE_MS}. Every answer is checked for what must hold for any input: never a
 * 500, and every error is a problem+json.
 */
export async function send(gw: Gateway, path: string, init: RequestInit & { ip?: string | null }): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | null = null
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${REQUEST_DEADLINE_MS} ms: a hang`)),
      REQUEST_DEADLINE_MS,
    )
  })
  try {
    const outcome = await Promise.race([
      (async (): Promise<Outcome> => {
        const response = await gw.fetch(path, init)
        return {
          status: response.status,
          contentType: response.headers.get('content-type'),
          body: await response.text(),
        }
      })(),
      deadline,
    ])
    expect(outcome.status, outcome.body).not.toBe(500)
    expect(outcome.status).toBeLessThan(600)
    if (outcome.status >= 400)
      expect(outcome.contentType, `${outcome.status} ${outcome.body}`).toBe('application/problem+json')
    return outcome
  } finally {
    if (timer !== null) clearTimeout(timer)
  }
}

export const is2xx = (outcome: Outcome): boolean => outcome.status >= 200 && outcome.status < 300

/** Header values a client can send: visible ASCII, spaces and tabs (Headers refuses the rest). */
export const headerText = (maxLength = 120): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constant('\t'),
    ),
    maxLength,
  })

/** Whether `Headers` takes the value as it is (a generated value may still end up refused by fetch). */
export function sendable(name: string, value: string): boolean {
  try {
    new Headers([[name, value]])
    return true
  } catch {
    return false
  }
}

const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/=+$/, '')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
export const b64urlText = (text: string): string => b64url(new TextEncoder().encode(text))

/** A JWT signed by hand (HS256 with `secret`), so that any header and claims can be generated. */
export async function hs256(header: unknown, payload: unknown, secret = PARTNER_SECRET): Promise<string> {
  const input = `${b64urlText(JSON.stringify(header))}.${b64urlText(JSON.stringify(payload))}`
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  return `${input}.${b64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input))))}`
}

/** A well-formed API key (valid checksum) that the policy does not know, or one with a known key id. */
export const strangerKey = (keyId?: string): string => generateApiKey(keyId).key
