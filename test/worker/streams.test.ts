/**
 * Open streams under the gateway's watch (issue 15), against real components: the Node test
 * backend's SSE answers and WebSocket, runtime keys in both real stores, a real Better Auth app,
 * a real OpenID provider's short-lived JWT and opaque tokens. Rechecks run every second here
 * (the policy floor), so a revocation must end a stream within 2 s (recheck + 1 s).
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { Bindings } from '../../src/env.ts'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { BETTER_AUTH_COOKIE, signOut, signUp } from '../support/better-auth-client.ts'
import { AGENTS_RESOURCE, clientCredentialsToken, OIDC_CLIENTS, OPAQUE_RESOURCE } from '../support/oidc-client.ts'
import { gateway, mintKey, type Gateway, type MintedKey } from './harness.ts'
import { backendSaw, logLines, openSse, openWs, sleep } from './stream-helpers.ts'

const ADMIN_TOKEN = 'test-admin-token-that-is-long-enough'
const RECHECK_MS = 1_000
/** The bound the issue sets (recheck + 1 s). */
const REVOCATION_BOUND_MS = RECHECK_MS + 1_000

const STORES: [string, Omit<Bindings, 'INVOKER_SIGNING_KEYS'>][] = [
  ['upstash', { UPSTASH_REDIS_REST_URL: env.TEST_UPSTASH_URL, UPSTASH_REDIS_REST_TOKEN: env.TEST_UPSTASH_TOKEN }],
  ['durable_object', { GATEWAY_STORE: env.GATEWAY_STORE }],
]

let sequence = 0
const uniquePack = (): string => `s${Date.now().toString(36)}${(sequence++).toString(36)}`

let alice: MintedKey

beforeAll(async () => {
  alice = await mintKey('alice')
})

function streamGateway(
  streams: string,
  bindings: Omit<Bindings, 'INVOKER_SIGNING_KEYS'> & Record<string, unknown> = {},
  gatewayExtra = '',
  auth = '[api_key]',
): { gw: Gateway; pack: string } {
  const pack = uniquePack()
  return {
    pack,
    gw: gateway(
      {
        [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: ${auth}\nstreams: ${streams}\n`,
      },
      `issuer: https://gateway.test\n${gatewayExtra}api_keys:\n${alice.yaml}`,
      undefined,
      bindings,
    ),
  }
}

async function mintRuntimeKey(gw: Gateway, pack: string): Promise<{ key: string; keyId: string }> {
  const { key, keyId } = generateApiKey()
  const minted = await gw.fetch('/.well-known/invoker-gateway/keys', {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      key_id: keyId,
      sha256: await sha256Hex(key),
      name: `rt-${keyId.toLowerCase()}`,
      packs: [pack],
    }),
  })
  expect(minted.status).toBe(201)
  return { key, keyId }
}

describe.each(STORES)('revoking a runtime key (%s store) while streams are open', (_, bindings) => {
  it('ends an SSE answer and closes a WebSocket with 1008 within recheck + 1 s, says why, and logs revoked_mid_stream', async () => {
    const { gw, pack } = streamGateway(`{ recheck: 1s }`, { ...bindings, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN })
    const { key, keyId } = await mintRuntimeKey(gw, pack)
    const log = vi.spyOn(console, 'log')
    const sse = await openSse(gw, `/${pack}/sse-ticks`, { headers: { 'x-api-key': key } })
    const ws = await openWs(gw, `/${pack}/ws`, { 'x-api-key': key })
    expect(sse.response.status).toBe(200)
    expect(ws.response.status).toBe(101)
    expect(await ws.waitForMessages(1)).toBe(true)
    ws.send('ping')
    expect(await ws.waitForMessages(2)).toBe(true)
    expect(ws.messages[1]).toBe('echo:ping')
    // Healthy streams survive their rechecks.
    await sleep(RECHECK_MS * 1.5)
    expect(sse.text()).not.toContain('gateway_closed')

    const revoked = await gw.fetch(`/.well-known/invoker-gateway/keys/${keyId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    expect(revoked.status).toBe(204)
    const at = Date.now()
    const [sseEnd, wsClose] = await Promise.all([sse.ended, ws.closed])
    expect(sseEnd.at - at).toBeLessThan(REVOCATION_BOUND_MS)
    expect(wsClose.at - at).toBeLessThan(REVOCATION_BOUND_MS)
    // The client sees why: the SSE answer's last event, the WebSocket's close code and reason.
    expect(sseEnd.error).toBe(false)
    expect(sse.text()).toMatch(
      /event: gateway_closed\ndata: \{"reason":"revoked_mid_stream","detail":"The API key has been revoked\."\}\n\n$/,
    )
    expect(wsClose.code).toBe(1008)
    expect(wsClose.reason).toBe('revoked_mid_stream: The API key has been revoked.')
    // The backend's ends were closed too.
    expect(await backendSaw(`closed-${sse.response.headers.get('x-request-id')}`)).toBe(true)
    expect(await backendSaw(`ws-close-code-${ws.response.headers.get('x-request-id')}-1008`)).toBe(true)

    const ends = logLines(log.mock.calls, 'stream_end')
    log.mockRestore()
    expect(ends).toHaveLength(2)
    for (const line of ends) {
      expect(line).toMatchObject({
        event: 'stream_end',
        pack,
        invoker_id: `apikey:rt-${keyId.toLowerCase()}`,
        reason: 'revoked_mid_stream',
        problem: 'api_key_revoked',
      })
      expect(line['duration_ms']).toBeGreaterThan(RECHECK_MS)
      expect(line['rechecks']).toBeGreaterThanOrEqual(2)
    }
    expect(ends.map((line) => line['stream']).sort()).toEqual(['sse', 'websocket'])
    // The next request is refused as before.
    expect((await gw.fetch(`/${pack}/x`, { headers: { 'x-api-key': key } })).status).toBe(401)
  })
})

describe('signing out of a real Better Auth session while streams are open', () => {
  it('ends the SSE answer and the WebSocket within recheck + 1 s, though the session cache lasts 30 s', async () => {
    const APP = env.TEST_BETTER_AUTH_ORIGIN
    const { gw, pack } = streamGateway(
      `{ recheck: 1s }`,
      {},
      `session:\n  cookies: [${BETTER_AUTH_COOKIE}]\n  introspection: { endpoint: ${APP}/api/auth/get-session, cache_ttl: 30s }\n`,
      '[session, api_key]',
    )
    const user = await signUp(APP, `streamer-${crypto.randomUUID()}@example.com`, 'Streamer')
    const log = vi.spyOn(console, 'log')
    const sse = await openSse(gw, `/${pack}/sse-ticks`, { headers: { cookie: user.cookie } })
    // A browser's handshake names its page's origin: here the gateway's own (a cookie WebSocket needs a trusted one).
    const ws = await openWs(gw, `/${pack}/ws`, { cookie: user.cookie, origin: 'https://gw.test' })
    expect(sse.response.status).toBe(200)
    expect(ws.response.status).toBe(101)
    await sleep(RECHECK_MS * 1.5)
    expect(sse.text()).not.toContain('gateway_closed')

    await signOut(APP, user.cookie)
    const at = Date.now()
    const [sseEnd, wsClose] = await Promise.all([sse.ended, ws.closed])
    expect(sseEnd.at - at).toBeLessThan(REVOCATION_BOUND_MS)
    expect(wsClose.at - at).toBeLessThan(REVOCATION_BOUND_MS)
    expect(sse.text()).toContain('"reason":"revoked_mid_stream","detail":"The session is not valid; sign in again."')
    expect(wsClose).toMatchObject({
      code: 1008,
      reason: 'revoked_mid_stream: The session is not valid; sign in again.',
    })
    const ends = logLines(log.mock.calls, 'stream_end')
    log.mockRestore()
    expect(ends.map((line) => [line['reason'], line['problem'], line['invoker_id']])).toEqual([
      ['revoked_mid_stream', 'session_invalid', user.id],
      ['revoked_mid_stream', 'session_invalid', user.id],
    ])
  })
})

describe('tokens that stop being valid while a stream is open', () => {
  const IDP = env.TEST_OIDC_ISSUER
  const issuer = `issuers:\n  idp:\n    issuer: ${IDP}\n    jwks_uri: ${IDP}/jwks\n    audience: [${AGENTS_RESOURCE}, ${OPAQUE_RESOURCE}]\n    algorithms: [ES256]\n    clock_tolerance: 0s\n    introspection:\n      endpoint: ${IDP}/token/introspection\n      client_id: ${OIDC_CLIENTS.gateway.id}\n      client_secret: IDP_INTROSPECTION_SECRET\n      cache_ttl: 30s\n`

  it.each([
    ['a JWT past its exp', AGENTS_RESOURCE, 'bearer_invalid'],
    ['an introspected token that became inactive', OPAQUE_RESOURCE, 'bearer_invalid'],
  ])('ends the stream for %s', async (_, resource, problem) => {
    const { gw, pack } = streamGateway(
      `{ recheck: 1s }`,
      { IDP_INTROSPECTION_SECRET: OIDC_CLIENTS.gateway.secret },
      issuer,
      '[bearer]',
    )
    // The provider's short-lived client: its tokens expire after 2 s.
    const token = await clientCredentialsToken(`${IDP}/token`, OIDC_CLIENTS.shortLived, {
      resource,
      scope: 'agents:read',
    })
    const issued = Date.now()
    const log = vi.spyOn(console, 'log')
    const sse = await openSse(gw, `/${pack}/sse-ticks`, { headers: { authorization: `Bearer ${token}` } })
    expect(sse.response.status).toBe(200)
    const end = await sse.ended
    expect(end.at - issued).toBeLessThan(2_000 + REVOCATION_BOUND_MS)
    expect(sse.text()).toContain('"reason":"revoked_mid_stream"')
    const ends = logLines(log.mock.calls, 'stream_end')
    log.mockRestore()
    expect(ends).toMatchObject([{ reason: 'revoked_mid_stream', problem }])
  })

  it('ends the stream of a policy API key once it passes its expires', async () => {
    const expiring = await mintKey('expiring', `expires: ${new Date(Date.now() + 2_000).toISOString()}`)
    const pack = uniquePack()
    const gw = gateway(
      {
        [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: [api_key]\nstreams: { recheck: 1s }\n`,
      },
      `issuer: https://gateway.test\napi_keys:\n${expiring.yaml}`,
    )
    const sse = await openSse(gw, `/${pack}/sse-ticks`, { headers: { 'x-api-key': expiring.key } })
    expect(sse.response.status).toBe(200)
    await sse.ended
    expect(sse.text()).toContain('"reason":"revoked_mid_stream","detail":"The API key has expired."')
  })
})

describe('a recheck that cannot be answered', () => {
  const FLAKY = env.TEST_FLAKY_ORIGIN
  const flaky = {
    script: (path: string, json: unknown) =>
      fetch(`${FLAKY}/__script?path=${encodeURIComponent(path)}`, { method: 'PUT', body: JSON.stringify(json) }),
    down: (path: string) => fetch(`${FLAKY}/__down?path=${encodeURIComponent(path)}`, { method: 'POST' }),
  }

  it.each([
    ['allow', 'keeps the stream open'],
    ['deny', 'ends it as recheck_unavailable'],
  ])('with on_error: %s %s', async (onError) => {
    const path = `/session-${crypto.randomUUID()}`
    await flaky.script(path, { user: { id: `user-${path.slice(9, 17)}`, email: 'dana@example.com', name: 'Dana' } })
    const { gw, pack } = streamGateway(
      `{ recheck: 1s, on_error: ${onError} }`,
      {},
      `session:\n  cookies: [sid]\n  introspection: { endpoint: ${FLAKY}${path}, cache_ttl: 30s }\n`,
      '[session]',
    )
    const log = vi.spyOn(console, 'log')
    const sse = await openSse(gw, `/${pack}/sse-ticks`, { headers: { cookie: 'sid=abc' } })
    expect(sse.response.status).toBe(200)
    await flaky.down(path)
    if (onError === 'allow') {
      await sleep(RECHECK_MS * 3)
      expect(sse.text()).not.toContain('gateway_closed')
      await sse.close()
      const [line] = logLines(log.mock.calls, 'stream_end')
      expect(line).toMatchObject({ reason: 'client_closed' })
      expect(line?.['recheck_errors']).toBeGreaterThanOrEqual(1)
    } else {
      await sse.ended
      expect(sse.text()).toContain('"reason":"recheck_unavailable"')
      expect(logLines(log.mock.calls, 'stream_end')).toMatchObject([
        { reason: 'recheck_unavailable', problem: expect.stringContaining('500') },
      ])
    }
    log.mockRestore()
  })
})

describe('stream lifetimes', () => {
  it('closes an SSE answer and a WebSocket after max_duration, and logs it', async () => {
    const { gw, pack } = streamGateway('{ max_duration: 1s }')
    const log = vi.spyOn(console, 'log')
    const opened = Date.now()
    const sse = await openSse(gw, `/${pack}/sse-ticks`, { headers: { 'x-api-key': alice.key } })
    const ws = await openWs(gw, `/${pack}/ws`, { 'x-api-key': alice.key })
    const [end, close] = await Promise.all([sse.ended, ws.closed])
    expect(end.at - opened).toBeGreaterThanOrEqual(1_000)
    expect(end.at - opened).toBeLessThan(3_000)
    expect(sse.text()).toContain(
      '"reason":"max_duration","detail":"The stream reached its longest allowed duration (1 s)."',
    )
    expect(close).toMatchObject({
      code: 1008,
      reason: 'max_duration: The stream reached its longest allowed duration (1 s).',
    })
    const ends = logLines(log.mock.calls, 'stream_end')
    log.mockRestore()
    expect(ends.map((line) => line['reason'])).toEqual(['max_duration', 'max_duration'])
  })

  it('closes a quiet SSE answer and a quiet WebSocket after idle_timeout, and keeps a busy one', async () => {
    const { gw, pack } = streamGateway('{ idle_timeout: 1s }')
    const quiet = await openSse(gw, `/${pack}/sse-quiet`, { headers: { 'x-api-key': alice.key } })
    const busy = await openSse(gw, `/${pack}/sse-ticks?ms=200`, { headers: { 'x-api-key': alice.key } })
    const ws = await openWs(gw, `/${pack}/ws`, { 'x-api-key': alice.key })
    // The client keeps the socket busy for a while: messages either way count.
    for (let i = 0; i < 6; i++) {
      ws.send(`m${i}`)
      await sleep(300)
    }
    expect(quiet.text()).toContain('"reason":"idle_timeout"')
    expect(busy.text()).not.toContain('gateway_closed')
    const close = await ws.closed
    expect(close).toMatchObject({ code: 1008, reason: 'idle_timeout: Nothing moved on the stream for 1 s.' })
    expect(ws.messages.length).toBeGreaterThanOrEqual(7)
    await busy.close()
  })

  it('never cuts a backend event in half to say why: the body just ends', async () => {
    // The backend's events here arrive whole, so the gateway's event follows a blank line.
    const { gw, pack } = streamGateway('{ max_duration: 1s }')
    const sse = await openSse(gw, `/${pack}/sse-ticks?ms=100`, { headers: { 'x-api-key': alice.key } })
    await sse.ended
    const events = sse.text().split('\n\n').filter(Boolean)
    expect(events.at(-1)).toMatch(/^event: gateway_closed\ndata: /)
    expect(events.slice(0, -1).every((event) => /^data: \d+$/.test(event))).toBe(true)
  })
})

describe('uploads', () => {
  const MiB = 1024 * 1024

  /** `total` bytes in chunks of `chunk`, one every `everyMs`; `stallAfter` bytes, then nothing. */
  function slowBody(total: number, chunk: number, everyMs: number, stallAfter = Infinity): ReadableStream<Uint8Array> {
    const block = new Uint8Array(chunk)
    let sent = 0
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= total) return controller.close()
        if (sent >= stallAfter) return new Promise(() => undefined)
        await sleep(everyMs)
        controller.enqueue(block)
        sent += chunk
      },
    })
  }

  it('sends a 50 MiB upload at a slow, steady rate, slower than upstream_timeout, to a backend that reads it whole before answering', async () => {
    const { gw, pack } = streamGateway('{}', {}, 'upstream_timeout: 1s\nupload_idle_timeout: 2s\n')
    const started = Date.now()
    // 50 chunks of 1 MiB, one every 60 ms: about 3 s, three times upstream_timeout.
    const response = await gw.fetch(`/${pack}/upload`, {
      method: 'POST',
      body: slowBody(50 * MiB, MiB, 60),
      headers: { 'x-api-key': alice.key, 'content-length': String(50 * MiB) },
    })
    expect(Date.now() - started).toBeGreaterThan(2_000)
    expect(response.status).toBe(200)
    expect(((await response.json()) as { body_bytes: number; headers: Record<string, string> }).body_bytes).toBe(
      50 * MiB,
    )
  })

  it('still answers 504 when the backend, having the whole body, sends no headers within upstream_timeout', async () => {
    const { gw, pack } = streamGateway('{}', {}, 'upstream_timeout: 500ms\n')
    const response = await gw.fetch(`/${pack}/slow?ms=3000`, {
      method: 'POST',
      body: slowBody(2 * MiB, MiB, 300),
      headers: { 'x-api-key': alice.key },
    })
    expect(response.status).toBe(504)
  })

  it('cuts a stalled upload after upload_idle_timeout with 408', async () => {
    const { gw, pack } = streamGateway('{}', {}, 'upstream_timeout: 30s\nupload_idle_timeout: 1s\n')
    const started = Date.now()
    const stalled = await gw.fetch(`/${pack}/upload`, {
      method: 'POST',
      body: slowBody(8 * MiB, MiB, 10, 2 * MiB),
      headers: { 'x-api-key': alice.key },
    })
    expect(stalled.status).toBe(408)
    expect(await stalled.json()).toMatchObject({ type: 'urn:invoker-gateway:problem:request-timeout', status: 408 })
    expect(Date.now() - started).toBeLessThan(4_000)
  })

  /** An MCP pack: the gateway reads the JSON-RPC body itself, before anything is forwarded. */
  function mcpGateway(): { gw: Gateway; pack: string } {
    const pack = uniquePack()
    return {
      pack,
      gw: gateway(
        {
          [pack]: `pack: ${pack}\nupstream: $BACKEND\nmatch: { path_prefix: /${pack} }\nauth: [api_key, bearer]\nbearer: { issuers: [idp] }\nprotocol: mcp\nmcp: { resource: https://gw.test/${pack} }\n`,
        },
        `issuer: https://gateway.test\nupload_idle_timeout: 1s\napi_keys:\n${alice.yaml}issuers:\n  idp:\n    issuer: ${env.TEST_OIDC_ISSUER}\n    jwks_uri: ${env.TEST_OIDC_ISSUER}/jwks\n    algorithms: [ES256]\n`,
      ),
    }
  }
  const MESSAGE_START = new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"tools/call",')

  it('answers 408 when an MCP message stalls while the gateway reads it (red team, 2026-12-01)', async () => {
    const { gw, pack } = mcpGateway()
    const started = Date.now()
    const stalled = await gw.fetch(`/${pack}/mcp`, {
      method: 'POST',
      body: new ReadableStream<Uint8Array>({
        start: (controller) => controller.enqueue(MESSAGE_START),
        pull: () => new Promise(() => undefined),
      }),
      headers: {
        'x-api-key': alice.key,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
    })
    expect(stalled.status).toBe(408)
    expect(await stalled.json()).toMatchObject({ type: 'urn:invoker-gateway:problem:request-timeout', status: 408 })
    expect(Date.now() - started).toBeLessThan(4_000)
  })

  it('answers 400 when an MCP message breaks off while the gateway reads it, not 500', async () => {
    const { gw, pack } = mcpGateway()
    let sent = false
    const broken = await gw.fetch(`/${pack}/mcp`, {
      method: 'POST',
      body: new ReadableStream<Uint8Array>({
        pull: (controller) => {
          if (sent) return controller.error(new Error('client went away'))
          sent = true
          controller.enqueue(MESSAGE_START)
        },
      }),
      headers: {
        'x-api-key': alice.key,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
    })
    expect(broken.status).toBe(400)
    expect(await broken.json()).toMatchObject({ status: 400 })
  })

  it('cuts an upload the backend stopped reading after upload_idle_timeout with 504', async () => {
    const { gw, pack } = streamGateway('{}', {}, 'upstream_timeout: 30s\nupload_idle_timeout: 1s\n')
    const started = Date.now()
    const unread = await gw.fetch(`/${pack}/never-read`, {
      method: 'POST',
      body: slowBody(512 * MiB, MiB, 0),
      headers: { 'x-api-key': alice.key },
    })
    expect(unread.status).toBe(504)
    expect(Date.now() - started).toBeLessThan(6_000)
  })
})
