/**
 * The lean reference: the work any API-key gateway that signs an X-Invoker token must do per
 * request, written by hand on the Workers runtime with no framework and no jose on the request
 * path. It is the yardstick for the gateway's own structure (issue 18): what the gateway spends
 * above it is what its routing, policy, middleware, error handling and general-purpose helpers
 * cost.
 *
 * Per request: route by path prefix (first match in a table), find the API key's record by the
 * key id it carries, hash the presented key (SHA-256, `crypto.subtle`), compare in constant time,
 * make a request id, sign an Ed25519 X-Invoker (`typ: invoker+jwt`, the gateway's claims, bound
 * to method, upstream URL and jti) directly on `crypto.subtle` with a protected header encoded
 * once and base64url from the runtime, rewrite the headers (drop the key and any client
 * X-Invoker, set X-Invoker, X-Request-Id, X-Forwarded-*), forward, echo the request id to the
 * client, write one JSON log line.
 *
 * Not done (the gateway does it; this is the yardstick, not a product): CORS, policy rules,
 * problem+json errors beyond a bare status, key expiry/revocation/scope, the key checksum,
 * hop-by-hop and rewriting fields, rate limits, trace context, metrics, a backend timeout.
 *
 * With `LEAN_SIGN = "off"` the same Worker skips the claims and the signature: the no-token lower
 * bound (what the rest costs without the one thing a signing gateway cannot skip).
 */

export interface LeanEnv {
  /** `[{ prefix, pack, upstream }]`: the bench's packs, as the gateway's compiled policy has them. */
  LEAN_ROUTES: string
  /** `[{ keyId, sha256, name, invoker }]`: the policy's API keys. */
  LEAN_API_KEYS: string
  /** The gateway's issuer (`iss`). */
  LEAN_ISSUER: string
  /** The gateway's signing key set (the first key signs; Ed25519). */
  INVOKER_SIGNING_KEYS?: string
  /** `off`: no X-Invoker (the no-token lower bound). */
  LEAN_SIGN?: string
}

interface Route {
  prefix: string
  pack: string
  upstream: string
}

interface KeyRecord {
  name: string
  digest: Uint8Array
  invoker: { id: string; kind: string; meta: Record<string, unknown> }
}

interface Tables {
  routes: Route[]
  keys: Map<string, KeyRecord>
  signer: CryptoKey | null
  /** base64url of the protected header, `.`-terminated: encoded once, not per request. */
  header: string
}

const TOKEN_TTL_SECONDS = 60
const API_KEY_HEADER = 'x-api-key'
/** `igw_` + 8-character key id + `_` + secret and checksum (src/keys/api-key-format.ts). */
const KEY_ID_START = 4
const KEY_ID_END = 12
const encoder = new TextEncoder()

/** A lean Worker with its own tables (the CPU micro-benchmark runs two in one isolate). */
export function createLean(): { fetch(request: Request, env: LeanEnv): Promise<Response> } {
  let tables: Promise<Tables> | null = null
  return {
    fetch: async (request, env) => {
      tables ??= load(env)
      return handle(request, env, await tables)
    },
  }
}

export default createLean()

async function handle(request: Request, env: LeanEnv, { routes, keys, signer, header }: Tables): Promise<Response> {
  const url = new URL(request.url)
  const path = url.pathname

  let route: Route | null = null
  for (const r of routes) {
    if (path === r.prefix || path.startsWith(r.prefix + '/')) {
      route = r
      break
    }
  }
  if (route === null) return new Response(null, { status: 404 })

  const presented = request.headers.get(API_KEY_HEADER)
  const record = presented?.startsWith('igw_') ? keys.get(presented.slice(KEY_ID_START, KEY_ID_END)) : undefined
  if (presented === null || record === undefined) return new Response(null, { status: 401 })
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(presented)))
  if (!constantTimeEqual(digest, record.digest)) return new Response(null, { status: 401 })

  const requestId = crypto.randomUUID()
  const upstreamUrl = route.upstream + (path.slice(route.prefix.length) || '/')
  const headers = new Headers(request.headers)
  headers.delete(API_KEY_HEADER)
  headers.delete('x-invoker')
  headers.set('x-request-id', requestId)
  headers.set('x-forwarded-for', request.headers.get('cf-connecting-ip') ?? '127.0.0.1')
  headers.set('x-forwarded-proto', url.protocol.slice(0, -1))
  headers.set('x-forwarded-host', url.host)
  if (signer !== null) {
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      invoker: record.invoker,
      auth: { method: 'api_key', api_key: record.name },
      iss: env.LEAN_ISSUER,
      aud: route.pack,
      sub: record.invoker.id,
      iat: now,
      exp: now + TOKEN_TTL_SECONDS,
      jti: requestId,
      htm: request.method,
      htu: upstreamUrl,
    }
    const input = header + base64url(encoder.encode(JSON.stringify(claims)))
    const signature = await crypto.subtle.sign('Ed25519', signer, encoder.encode(input))
    headers.set('x-invoker', input + '.' + base64url(new Uint8Array(signature)))
  }

  const upstream = await fetch(upstreamUrl + url.search, {
    method: request.method,
    headers,
    body: request.body,
    redirect: 'manual',
  })
  // The upstream response's headers are immutable: one copy to echo the request id (SPEC §6).
  const response = new Response(upstream.body, upstream)
  response.headers.set('x-request-id', requestId)
  console.log(
    JSON.stringify({
      request_id: requestId,
      method: request.method,
      path,
      pack: route.pack,
      invoker_id: record.invoker.id,
      api_key: record.name,
      status: response.status,
    }),
  )
  return response
}

async function load(env: LeanEnv): Promise<Tables> {
  const routes = JSON.parse(env.LEAN_ROUTES) as Route[]
  const keys = new Map<string, KeyRecord>()
  for (const k of JSON.parse(env.LEAN_API_KEYS) as {
    keyId: string
    sha256: string
    name: string
    invoker: KeyRecord['invoker']
  }[]) {
    keys.set(k.keyId, { name: k.name, invoker: k.invoker, digest: hexBytes(k.sha256) })
  }
  if (env.LEAN_SIGN === 'off') return { routes, keys, signer: null, header: '' }
  if (!env.INVOKER_SIGNING_KEYS) throw new Error('INVOKER_SIGNING_KEYS is not set')
  const jwk = (JSON.parse(env.INVOKER_SIGNING_KEYS) as { keys: (JsonWebKey & { kid: string })[] })
    .keys[0] as JsonWebKey & { kid: string }
  const signer = await crypto.subtle.importKey(
    'jwk',
    { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d },
    { name: 'Ed25519' },
    false,
    ['sign'],
  )
  const header = base64url(encoder.encode(JSON.stringify({ alg: 'EdDSA', kid: jwk.kid, typ: 'invoker+jwt' }))) + '.'
  return { routes, keys, signer, header }
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

/**
 * RFC 4648 §5 without padding, natively: workerd's V8 has `Uint8Array.prototype.toBase64` (TC39
 * "Uint8Array to/from base64"), which TypeScript's ES2023 library does not declare yet.
 */
function base64url(bytes: Uint8Array): string {
  return (
    bytes as Uint8Array & { toBase64(options: { alphabet: 'base64url'; omitPadding: boolean }): string }
  ).toBase64({ alphabet: 'base64url', omitPadding: true })
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
