/**
 * Telemetry (issue 17, items 1–3) through the real gateway in workerd: the W3C trace context the
 * backend receives and the log line names; the Analytics Engine data point each request writes
 * through the local runtime's own binding (miniflare's, declared in wrangler.toml); and the
 * degraded inputs (stale JWKS keys, a key directory's last good copy, a failed store call with
 * `on_error: allow`, session and introspection answers served from cache while their endpoint
 * fails) in both. Failing services are a real HTTP server the test turns down and up
 * (test/support/flaky.ts).
 */
import { env } from 'cloudflare:test'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { METRIC_BLOBS, METRIC_DOUBLES } from '../../src/metrics-layout.ts'
import { sha256Hex } from '../../src/keys/digest.ts'
import { gateway, mintKey, type Echo, type Gateway, type MintedKey } from './harness.ts'
import { localSigner, type LocalSigner } from './local-signer.ts'

const FLAKY = env.TEST_FLAKY_ORIGIN
const run = crypto.randomUUID().slice(0, 8)
const DIRECTORY_PATH = '/.well-known/http-message-signatures-directory'
const ISSUER = `https://idp-${run}.test`
const AUDIENCE = 'https://agents.test'

const flaky = {
  script: (path: string, json: unknown) =>
    fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body: JSON.stringify(json) }),
  down: (path: string) => fetch(`${FLAKY}/__down?path=${encodeURIComponent(path)}`, { method: 'POST' }),
  up: (path: string) => fetch(`${FLAKY}/__up?path=${encodeURIComponent(path)}`, { method: 'POST' }),
}

const PATHS = {
  jwks: `/jwks-${run}`,
  session: `/session-${run}`,
  introspection: `/introspect-${run}`,
  upstash: `/upstash-${run}`,
}

const PACKS = {
  keys: 'pack: keys\nupstream: $BACKEND\nmatch: { path_prefix: /packs/keys }\nauth: [api_key]\nallow: [{ api_key: alice }]\n',
  tokens:
    'pack: tokens\nupstream: $BACKEND\nmatch: { path_prefix: /packs/tokens }\nauth: [bearer]\nbearer: { issuers: [idp] }\n',
  opaque:
    'pack: opaque\nupstream: $BACKEND\nmatch: { path_prefix: /packs/opaque }\nauth: [bearer]\nbearer: { issuers: [introspecting] }\n',
  cookies: 'pack: cookies\nupstream: $BACKEND\nmatch: { path_prefix: /packs/cookies }\nauth: [session]\n',
  signed:
    'pack: signed\nupstream: $BACKEND\nmatch: { path_prefix: /packs/signed }\nauth: [envelope]\nenvelope: { directories: ["FLAKY"] }\n'.replace(
      'FLAKY',
      FLAKY,
    ),
  limited:
    'pack: limited\nupstream: $BACKEND\nmatch: { path_prefix: /packs/limited }\nauth: [api_key]\nrate_limits:\n  - { id: lenient, by: invoker, limit: 100, window: 1m, on_error: allow }\n',
}

let alice: MintedKey
let bob: MintedKey
let signingKey: CryptoKey
let publicJwk: JWK
let gw: Gateway
let directorySigner: LocalSigner
let directoryKeyId: string

const SECRETS = { INTROSPECTION_SECRET: 'telemetry-test-client-secret' }

function gatewayYaml(): string {
  return `
issuer: https://gateway.test
store_timeout: 500ms
api_keys:
${alice.yaml}${bob.yaml}
issuers:
  idp:
    issuer: ${ISSUER}
    jwks_uri: ${FLAKY}${PATHS.jwks}
    audience: ${AUDIENCE}
    algorithms: [EdDSA]
    jwks_cache: { max_age: 1s, cooldown: 0s, stale: 1h, timeout: 1s }
  introspecting:
    issuer: https://opaque-${run}.test
    audience: ${AUDIENCE}
    algorithms: [ES256]
    introspection: { endpoint: ${FLAKY}${PATHS.introspection}, client_id: gateway, client_secret: INTROSPECTION_SECRET, cache_ttl: 1m }
session:
  cookies: [app.session]
  introspection: { endpoint: ${FLAKY}${PATHS.session}, cache_ttl: 1m, negative_ttl: 1s, timeout: 1s }
key_directories:
  - origin: ${FLAKY}
envelope: { directory_cache: 1s, nonce: optional }
`
}

beforeAll(async () => {
  alice = await mintKey('alice')
  bob = await mintKey('bob')
  const pair = await generateKeyPair('EdDSA', { extractable: true })
  signingKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: `k-${run}`, alg: 'EdDSA' }
  await flaky.script(PATHS.jwks, { keys: [publicJwk] })
  directorySigner = await localSigner('unused')
  directoryKeyId = await calculateJwkThumbprint(directorySigner.jwk as JWK, 'sha256')
  await flaky.script(DIRECTORY_PATH, { keys: [directorySigner.jwk] })
  gw = gateway(PACKS, gatewayYaml(), undefined, { ...SECRETS, GATEWAY_METRICS: env.GATEWAY_METRICS })
})

afterEach(() => vi.restoreAllMocks())

interface LogLine {
  request_id: string
  trace_id: string
  path: string
  decision: string
  status: number
  degraded: Array<{ kind: string; source: string; stale_for: number | null; problem: string | null }> | null
  upstream_ms: number | null
  duration_ms: number
}

/** Runs `send` and returns what it answered, the log line it wrote and the data points it wrote through the real binding. */
async function observed(
  send: () => Promise<Response>,
): Promise<{ response: Response; line: LogLine; points: AnalyticsEngineDataPoint[] }> {
  const lines: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
  // A spy that calls through: the point still goes to the runtime's binding; the test reads what was passed.
  const write = vi.spyOn(env.GATEWAY_METRICS, 'writeDataPoint')
  try {
    const response = await send()
    const requestLines = lines.filter((l) => l.startsWith('{"request_id"'))
    expect(requestLines).toHaveLength(1)
    return {
      response,
      line: JSON.parse(requestLines[0] as string) as LogLine,
      points: write.mock.calls.map((call) => call[0] as AnalyticsEngineDataPoint),
    }
  } finally {
    log.mockRestore()
    write.mockRestore()
  }
}

const blob = (point: AnalyticsEngineDataPoint, name: (typeof METRIC_BLOBS)[number]): unknown =>
  point.blobs?.[METRIC_BLOBS.indexOf(name)]
const double = (point: AnalyticsEngineDataPoint, name: (typeof METRIC_DOUBLES)[number]): unknown =>
  point.doubles?.[METRIC_DOUBLES.indexOf(name)]
const withKey = (key: MintedKey, headers: Record<string, string> = {}): RequestInit => ({
  headers: { 'x-api-key': key.key, ...headers },
})
const token = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: 'svc-1', ...claims })
    .setProtectedHeader({ alg: 'EdDSA', kid: publicJwk.kid as string })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signingKey)

describe('W3C trace context', () => {
  const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c'
  const CLIENT_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

  it('passes a valid traceparent and tracestate to the backend unchanged, and logs the trace id', async () => {
    const { response, line } = await observed(() =>
      gw.fetch(
        '/packs/keys/x',
        withKey(alice, { traceparent: CLIENT_PARENT, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' }),
      ),
    )
    const echo = (await response.json()) as Echo
    expect(echo.headers['traceparent']).toBe(CLIENT_PARENT)
    expect(echo.headers['tracestate']).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')
    expect(line.trace_id).toBe(CLIENT_TRACE)
    // The request id (X-Invoker jti) is the gateway's own, one per request, whatever the trace.
    expect(echo.headers['x-request-id']).toBe(line.request_id)
  })

  it('starts a trace when the client sent none: random ids, sampled, one per request', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const { response, line } = await observed(() => gw.fetch('/packs/keys/x', withKey(alice)))
      const traceparent = ((await response.json()) as Echo).headers['traceparent'] as string
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      expect(traceparent.slice(3, 35)).toBe(line.trace_id)
      seen.add(line.trace_id)
    }
    expect(seen.size).toBe(3)
  })

  it('starts a new trace, without the tracestate, when the traceparent is invalid (W3C Trace Context §3.2)', async () => {
    const invalid = [
      '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01', // upper-case hex
      '00-00000000000000000000000000000000-b7ad6b7169203331-01', // all-zero trace id
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', // all-zero parent id
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', // version ff
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra', // version 00 with more
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01', // short parent id
      '00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01', // not dashes
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g', // flags not hex
      `${CLIENT_PARENT}, ${CLIENT_PARENT}`, // two fields
    ]
    for (const traceparent of invalid) {
      const { response, line } = await observed(() =>
        gw.fetch('/packs/keys/x', withKey(alice, { traceparent, tracestate: 'congo=t61rcWkgMzE' })),
      )
      const echo = (await response.json()) as Echo
      expect(echo.headers['traceparent'], traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      expect(line.trace_id, traceparent).not.toBe(CLIENT_TRACE)
      expect(echo.headers['tracestate'], traceparent).toBeUndefined()
    }
  })

  it('reads a later version by its version-00 fields and passes it on as version 00 (§3.2.4)', async () => {
    const { response, line } = await observed(() =>
      gw.fetch('/packs/keys/x', withKey(alice, { traceparent: `cc-${CLIENT_PARENT.slice(3)}-what-comes-next` })),
    )
    expect(((await response.json()) as Echo).headers['traceparent']).toBe(CLIENT_PARENT)
    expect(line.trace_id).toBe(CLIENT_TRACE)
  })

  it('keeps the trace but drops a malformed tracestate', async () => {
    for (const tracestate of ['not a list member', 'Upper=1', `${'a=1,'.repeat(32)}b=2`, `k=${'v'.repeat(600)}`]) {
      const { response } = await observed(() =>
        gw.fetch('/packs/keys/x', withKey(alice, { traceparent: CLIENT_PARENT, tracestate })),
      )
      const echo = (await response.json()) as Echo
      expect(echo.headers['traceparent']).toBe(CLIENT_PARENT)
      expect(echo.headers['tracestate'], tracestate).toBeUndefined()
    }
  })

  it('names the trace in the log line of a refused request too', async () => {
    const { response, line } = await observed(() =>
      gw.fetch('/packs/keys/x', { headers: { traceparent: CLIENT_PARENT } }),
    )
    expect(response.status).toBe(401)
    expect(line.trace_id).toBe(CLIENT_TRACE)
  })

  it('keeps at most 2,048 characters of the path in the log line (red team, 2026-12-01)', async () => {
    const long = `/packs/keys/${'a'.repeat(5000)}`
    const { response, line } = await observed(() => gw.fetch(long, withKey(alice)))
    expect(response.status).toBe(200)
    expect(line.path).toBe(`${long.slice(0, 2048)}…`)
    const { line: short } = await observed(() => gw.fetch('/packs/keys/x', withKey(alice)))
    expect(short.path).toBe('/packs/keys/x')
  })
})

describe('metrics: one Analytics Engine data point per request, through the local binding', () => {
  it('writes pack, agent, decision, reason, auth method, status class, timings for an allowed request', async () => {
    const { response, line, points } = await observed(() => gw.fetch('/packs/keys/x', withKey(alice)))
    expect(response.status).toBe(200)
    expect(points).toHaveLength(1)
    const point = points[0] as AnalyticsEngineDataPoint
    expect(point.indexes).toEqual(['keys'])
    expect(point.blobs).toEqual([
      'keys',
      '',
      'allow',
      'allowed',
      'api_key',
      '2xx',
      'allow[0]',
      'apiKey',
      '',
      'alice',
      '',
    ])
    expect(double(point, 'status')).toBe(200)
    expect(double(point, 'duration_ms')).toBe(line.duration_ms)
    expect(double(point, 'upstream_ms')).toBe(line.upstream_ms)
    expect(line.upstream_ms).not.toBeNull()
    expect(double(point, 'gateway_ms')).toBe(line.duration_ms - (line.upstream_ms as number))
    expect(double(point, 'stale_for')).toBe(0)
    expect(point.doubles).toHaveLength(METRIC_DOUBLES.length)
  })

  it('writes the refused invoker as a digest of its id, never the id', async () => {
    const { response, points } = await observed(() => gw.fetch('/packs/keys/x', withKey(bob)))
    expect(response.status).toBe(403)
    const point = points[0] as AnalyticsEngineDataPoint
    expect(blob(point, 'decision')).toBe('deny')
    expect(blob(point, 'reason')).toBe('denied')
    expect(blob(point, 'status_class')).toBe('4xx')
    expect(blob(point, 'invoker_digest')).toBe((await sha256Hex('apikey:bob')).slice(0, 16))
    expect(JSON.stringify(point)).not.toContain('apikey:bob')
    expect(double(point, 'upstream_ms')).toBe(0)
  })

  it('writes a point for a request no pack routes', async () => {
    const { response, points } = await observed(() => gw.fetch('/nowhere'))
    expect(response.status).toBe(404)
    expect(points[0]?.indexes).toEqual([''])
    expect(blob(points[0] as AnalyticsEngineDataPoint, 'reason')).toBe('route_not_found')
  })

  it('works without the binding, and a binding that throws never fails the request', async () => {
    const bare = gateway(PACKS, gatewayYaml(), undefined, SECRETS)
    expect((await bare.fetch('/packs/keys/x', withKey(alice))).status).toBe(200)
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const broken = gateway(PACKS, gatewayYaml(), undefined, {
      ...SECRETS,
      GATEWAY_METRICS: {
        writeDataPoint: () => {
          throw new TypeError('writeDataPoint(): Maximum of 20 blobs supported.')
        },
      },
    })
    expect((await broken.fetch('/packs/keys/x', withKey(alice))).status).toBe(200)
    expect(errors.mock.calls.some(([text]) => String(text).includes('Maximum of 20 blobs'))).toBe(true)
  })
})

describe('degraded inputs in the log line and the metric', () => {
  it('a token verified with the last good JWKS while the endpoint fails: jwks_stale with the keys’ age', async () => {
    const first = await observed(async () =>
      gw.fetch('/packs/tokens/x', { headers: { authorization: `Bearer ${await token()}` } }),
    )
    expect(first.response.status).toBe(200)
    expect(first.line.degraded).toBeNull()
    await flaky.down(PATHS.jwks)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_100)) // past max_age: the set refreshes, and fails
      const during = await observed(async () =>
        gw.fetch('/packs/tokens/x', { headers: { authorization: `Bearer ${await token({ sub: 'svc-2' })}` } }),
      )
      expect(during.response.status).toBe(200)
      expect(during.line.degraded).toEqual([
        { kind: 'jwks_stale', source: 'idp', stale_for: expect.any(Number), problem: 'JWKS endpoint answered 500' },
      ])
      expect(during.line.degraded?.[0]?.stale_for).toBeGreaterThanOrEqual(1)
      expect(blob(during.points[0] as AnalyticsEngineDataPoint, 'degraded')).toBe('jwks_stale')
      expect(double(during.points[0] as AnalyticsEngineDataPoint, 'stale_for')).toBe(
        during.line.degraded?.[0]?.stale_for,
      )
    } finally {
      await flaky.up(PATHS.jwks)
    }
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const after = await observed(async () =>
      gw.fetch('/packs/tokens/x', { headers: { authorization: `Bearer ${await token({ sub: 'svc-3' })}` } }),
    )
    expect(after.response.status).toBe(200)
    expect(after.line.degraded).toBeNull()
  })

  it('a signature checked with a key directory’s last good copy: directory_stale', async () => {
    const send = async () => {
      const url = 'https://gw.test/packs/signed/x'
      const agent = `"${FLAKY}"`
      const signed = await directorySigner.sign(
        { url, headers: { 'signature-agent': agent } },
        {
          components: ['@method', '@authority', '@path', 'signature-agent'],
          params: { keyid: directoryKeyId, tag: 'web-bot-auth', nonce: null },
        },
      )
      return gw.fetch(url, { headers: { 'signature-agent': agent, ...signed } })
    }
    const fresh = await observed(send)
    expect(fresh.response.status).toBe(200)
    expect(fresh.line.degraded).toBeNull()
    await flaky.down(DIRECTORY_PATH)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_100)) // past directory_cache
      const during = await observed(send)
      expect(during.response.status).toBe(200)
      expect(during.line.degraded).toEqual([
        {
          kind: 'directory_stale',
          source: FLAKY,
          stale_for: expect.any(Number),
          problem: 'key directory answered 500',
        },
      ])
      expect(blob(during.points[0] as AnalyticsEngineDataPoint, 'degraded')).toBe('directory_stale')
    } finally {
      await flaky.up(DIRECTORY_PATH)
    }
  })

  it('a key directory’s last good copy past directory_stale: 503 with Retry-After, and directory_stale in the log', async () => {
    const bounded = gateway(
      PACKS,
      gatewayYaml().replace(
        'envelope: { directory_cache: 1s, nonce: optional }',
        'envelope: { directory_cache: 1s, directory_stale: 2s, nonce: optional }',
      ),
      undefined,
      { ...SECRETS, GATEWAY_METRICS: env.GATEWAY_METRICS },
    )
    const send = async () => {
      const url = 'https://gw.test/packs/signed/x'
      const agent = `"${FLAKY}"`
      const signed = await directorySigner.sign(
        { url, headers: { 'signature-agent': agent } },
        {
          components: ['@method', '@authority', '@path', 'signature-agent'],
          params: { keyid: directoryKeyId, tag: 'web-bot-auth', nonce: null },
        },
      )
      return bounded.fetch(url, { headers: { 'signature-agent': agent, ...signed } })
    }
    const fetchedAt = Date.now()
    expect((await observed(send)).response.status).toBe(200)
    await flaky.down(DIRECTORY_PATH)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_100)) // past directory_cache: the refetch fails
      expect((await observed(send)).response.status).toBe(200) // the copy is ~1 s old
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, fetchedAt + 2_100 - Date.now())))
      const past = await observed(send)
      expect(past.response.status).toBe(503)
      expect(past.response.headers.get('retry-after')).toBe('5')
      expect(past.line.degraded).toEqual([
        {
          kind: 'directory_stale',
          source: FLAKY,
          stale_for: expect.any(Number),
          problem: 'key directory answered 500',
        },
      ])
      expect(past.line.degraded?.[0]?.stale_for).toBeGreaterThanOrEqual(2)
    } finally {
      await flaky.up(DIRECTORY_PATH)
    }
  })

  it('a store call that failed under on_error: allow: store_error', async () => {
    const failing = gateway(PACKS, gatewayYaml(), undefined, {
      ...SECRETS,
      GATEWAY_METRICS: env.GATEWAY_METRICS,
      UPSTASH_REDIS_REST_URL: `${FLAKY}${PATHS.upstash}`,
      UPSTASH_REDIS_REST_TOKEN: 'telemetry-test-token',
    })
    await flaky.down(PATHS.upstash)
    const { response, line, points } = await observed(() => failing.fetch('/packs/limited/x', withKey(alice)))
    expect(response.status).toBe(200)
    expect(line.degraded).toEqual([
      { kind: 'store_error', source: 'lenient', stale_for: null, problem: 'store call failed' },
    ])
    expect(blob(points[0] as AnalyticsEngineDataPoint, 'degraded')).toBe('store_error')
  })

  it('a session answer served from the cache while the session endpoint fails: session_cached', async () => {
    await flaky.script(PATHS.session, { user: { id: `user-${run}`, email: 'carol@example.com', name: 'Carol' } })
    const carol = { headers: { cookie: `app.session=carol-${run}` } }
    expect((await observed(() => gw.fetch('/packs/cookies/x', carol))).line.degraded).toBeNull()
    await flaky.down(PATHS.session)
    try {
      // Another cookie meets the failing endpoint: 503, and the gateway knows the endpoint fails.
      expect((await gw.fetch('/packs/cookies/x', { headers: { cookie: `app.session=dave-${run}` } })).status).toBe(503)
      const during = await observed(() => gw.fetch('/packs/cookies/x', carol))
      expect(during.response.status).toBe(200)
      expect(during.line.degraded).toEqual([
        {
          kind: 'session_cached',
          source: FLAKY,
          stale_for: expect.any(Number),
          problem: 'session endpoint answered 500',
        },
      ])
      expect(blob(during.points[0] as AnalyticsEngineDataPoint, 'degraded')).toBe('session_cached')
    } finally {
      await flaky.up(PATHS.session)
    }
    // The endpoint answers again (for a new cookie): cached answers are plain cached answers again.
    expect((await gw.fetch('/packs/cookies/x', { headers: { cookie: `app.session=erin-${run}` } })).status).toBe(200)
    expect((await observed(() => gw.fetch('/packs/cookies/x', carol))).line.degraded).toBeNull()
  })

  it('an introspection answer served from the cache while the endpoint fails: introspection_cached', async () => {
    await flaky.script(PATHS.introspection, {
      active: true,
      sub: 'opaque-svc',
      aud: AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 600,
    })
    const opaque = { headers: { authorization: `Bearer opaque-${run}` } }
    expect((await observed(() => gw.fetch('/packs/opaque/x', opaque))).response.status).toBe(200)
    await flaky.down(PATHS.introspection)
    try {
      expect((await gw.fetch('/packs/opaque/x', { headers: { authorization: `Bearer other-${run}` } })).status).toBe(
        503,
      )
      const during = await observed(() => gw.fetch('/packs/opaque/x', opaque))
      expect(during.response.status).toBe(200)
      expect(during.line.degraded).toEqual([
        {
          kind: 'introspection_cached',
          source: 'introspecting',
          stale_for: expect.any(Number),
          problem: 'introspection answered 500',
        },
      ])
    } finally {
      await flaky.up(PATHS.introspection)
    }
  })
})
