/**
 * Issue 12, items 4, 6 and 7, through the gateway to the real test backend, which records what
 * reached it (`/_control/received`). Signatures come from the independent signers of the global
 * setup (`http-message-signatures`, `web-bot-auth`, in Node).
 */
import { env } from 'cloudflare:test'
import { beforeAll, describe, expect, it } from 'vitest'
import { backendOrigin, gateway, verifiedInvoker, type Echo, type Gateway } from './harness.ts'

const SIGNERS = env.TEST_SIGNERS_ORIGIN
const GW = 'https://gw.test'

interface Keys {
  ed25519: JsonWebKey
  bot: { directory: string }
}

const pack = (id: string, envelope = ''): string => `
pack: ${id}
upstream: $BACKEND
match: { path_prefix: /packs/${id} }
auth: [envelope]
${envelope}`

let keys: Keys
let gw: Gateway

function gatewayYaml(): string {
  const { kty, crv, x } = keys.ed25519
  return `
issuer: https://gateway.test
signers:
  chat-host:
    keyid: chat-host-1
    algorithm: ed25519
    jwk: ${JSON.stringify({ kty, crv, x })}
key_directories:
  - origin: ${keys.bot.directory}
envelope: { max_age: 5m, clock_skew: 30s }
`
}

/** Packs with the settings items 4 adds, built when first asked for (the rest run without them). */
let configured: Gateway | null = null
function withBodySettings(): Gateway {
  configured ??= gateway(
    {
      small: pack('small', 'envelope: { body_limit: 64KiB }'),
      streaming: pack('streaming', 'envelope: { body_limit: 64KiB, stream_body: true }'),
    },
    gatewayYaml(),
    undefined,
    { GATEWAY_STORE: env.GATEWAY_STORE },
  )
  return configured
}

beforeAll(async () => {
  keys = (await (await fetch(`${SIGNERS}/keys`)).json()) as Keys
  gw = gateway({ agents: pack('agents') }, gatewayYaml(), undefined, { GATEWAY_STORE: env.GATEWAY_STORE })
})

async function digestOf(body: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)))
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return `sha-256=:${btoa(binary)}:`
}

/** Headers of a request signed by http-message-signatures (Node), covering the body's digest. */
async function signed(
  method: string,
  path: string,
  body?: string,
  params: { created?: number; expires?: number } = {},
): Promise<Record<string, string>> {
  const headers: Record<string, string> =
    body === undefined ? {} : { 'content-type': 'application/json', 'content-digest': await digestOf(body) }
  const fields = ['@method', '@authority', '@path', ...(body === undefined ? [] : ['content-digest'])]
  const response = await fetch(`${SIGNERS}/sign/httpsig`, {
    method: 'POST',
    body: JSON.stringify({
      alg: 'ed25519',
      keyid: 'chat-host-1',
      fields,
      request: { method, url: GW + path, headers },
      ...params,
    }),
  })
  const answer = (await response.json()) as { headers: Record<string, string>; error?: string }
  if (!response.ok) throw new Error(answer.error)
  return answer.headers
}

/** Sends `body` (a string with its Content-Length, or a stream without one) under signed headers. */
function send(
  target: Gateway,
  path: string,
  headers: Record<string, string>,
  body: string | ReadableStream<Uint8Array>,
): Promise<Response> {
  const framed =
    typeof body === 'string' ? { ...headers, 'content-length': String(new TextEncoder().encode(body).length) } : headers
  return target.fetch(path, { method: 'POST', headers: framed, body })
}

/** A body without Content-Length (chunked), in pieces of 16 KiB; counts what the gateway pulled. */
function chunked(text: string): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(offset, offset + 16 * 1024))
      offset += 16 * 1024
    },
  })
  return { stream, pulled: () => Math.min(offset, bytes.length) }
}

/** A body whose sender goes away after `chunks` pieces of 16 KiB. */
function failing(chunks: number): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ === chunks) return controller.error(new Error('the client went away'))
      controller.enqueue(new Uint8Array(16 * 1024).fill(0x61))
    },
  })
}

interface Received {
  arrived: boolean
  body_bytes: number
  complete: boolean
}

async function received(response: Response): Promise<Received> {
  const id = response.headers.get('x-request-id') as string
  return (await (await fetch(`${backendOrigin()}/_control/received?id=${id}`)).json()) as Received
}

async function bodyClaim(target: Gateway, response: Response, audience: string): Promise<unknown> {
  const echo = (await response.json()) as Echo
  const { payload } = await verifiedInvoker(target, echo.headers['x-invoker'] as string, audience)
  return (payload['auth'] as Record<string, unknown>)['body']
}

const mismatch = 'The body does not match its Content-Digest.'

describe('signed bodies are verified before they are forwarded', () => {
  it('item 4: a signed body that does not match Content-Digest never reaches the backend', async () => {
    const body = JSON.stringify({ task: 'x'.repeat(300_000) })
    const forged = body.replace('xxx', 'rm ')
    const response = await send(gw, '/packs/agents/upload', await signed('POST', '/packs/agents/upload', body), forged)
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe(mismatch)
    // Not the headers, not one byte: the backend never heard of the request.
    expect(await received(response)).toEqual({ arrived: false, body_bytes: 0, complete: false })
  })

  it('item 4: a matching signed body reaches the backend whole, and X-Invoker says auth.body "verified"', async () => {
    const body = JSON.stringify({ task: 'y'.repeat(300_000) })
    const response = await send(gw, '/packs/agents/upload', await signed('POST', '/packs/agents/upload', body), body)
    expect(response.status).toBe(200)
    expect(await received(response)).toEqual({ arrived: true, body_bytes: body.length, complete: true })
    expect(await bodyClaim(gw, response, 'agents')).toBe('verified')
  })

  it('item 4: a signed body without Content-Length is read, checked and forwarded with its length', async () => {
    const body = JSON.stringify({ task: 'z'.repeat(100_000) })
    const response = await send(
      gw,
      '/packs/agents/upload',
      await signed('POST', '/packs/agents/upload', body),
      chunked(body).stream,
    )
    expect(response.status).toBe(200)
    const echo = (await response.clone().json()) as Echo
    expect(echo.headers['content-length']).toBe(String(body.length))
    expect(await received(response)).toMatchObject({ body_bytes: body.length, complete: true })
    const forged = await send(
      gw,
      '/packs/agents/upload',
      await signed('POST', '/packs/agents/upload', body),
      chunked(body.replace('zzz', 'rm ')).stream,
    )
    expect(forged.status).toBe(401)
    expect((await received(forged)).arrived).toBe(false)
  })

  it('item 4: a request without a signed body carries no auth.body claim', async () => {
    const response = await gw.fetch('/packs/agents/x', { headers: await signed('GET', '/packs/agents/x') })
    expect(response.status).toBe(200)
    expect(await bodyClaim(gw, response, 'agents')).toBeUndefined()
  })

  it("item 4: a signed body above the pack's limit is 413 problem+json and never reaches the backend, declared or chunked", async () => {
    const target = withBodySettings()
    const body = JSON.stringify({ task: 'a'.repeat(100 * 1024) })
    const headers = await signed('POST', '/packs/small/upload', body)
    const declared = await send(target, '/packs/small/upload', headers, body)
    expect(declared.status).toBe(413)
    expect(declared.headers.get('content-type')).toBe('application/problem+json')
    expect(await declared.json()).toMatchObject({ status: 413, type: 'urn:invoker-gateway:problem:content-too-large' })
    expect((await received(declared)).arrived).toBe(false)

    const source = chunked(body)
    const cut = await send(
      target,
      '/packs/small/upload',
      await signed('POST', '/packs/small/upload', body),
      source.stream,
    )
    expect(cut.status).toBe(413)
    expect((await received(cut)).arrived).toBe(false)
    // Reading stopped at the limit (plus the chunk that crossed it), not at the end of the body.
    expect(source.pulled()).toBeLessThanOrEqual(64 * 1024 + 2 * 16 * 1024)

    // Below the limit the same pack verifies as usual.
    const small = JSON.stringify({ task: 'b'.repeat(1000) })
    const ok = await send(target, '/packs/small/upload', await signed('POST', '/packs/small/upload', small), small)
    expect(ok.status).toBe(200)
    expect(await bodyClaim(target, ok, 'small')).toBe('verified')
  })

  it('item 4: a pack that opts in streams a larger signed body, says auth.body "streamed", and aborts a mismatch before its end', async () => {
    const target = withBodySettings()
    const body = JSON.stringify({ task: 'c'.repeat(300_000) })
    const streamed = await send(
      target,
      '/packs/streaming/upload',
      await signed('POST', '/packs/streaming/upload', body),
      body,
    )
    expect(streamed.status).toBe(200)
    expect(await received(streamed)).toMatchObject({ body_bytes: body.length, complete: true })
    expect(await bodyClaim(target, streamed, 'streaming')).toBe('streamed')

    const forged = await send(
      target,
      '/packs/streaming/upload',
      await signed('POST', '/packs/streaming/upload', body),
      body.replace('ccc', 'rm '),
    )
    expect(forged.status).toBe(401)
    expect(((await forged.json()) as { detail: string }).detail).toBe(mismatch)
    const seen = await received(forged)
    expect(seen.complete).toBe(false)
    expect(seen.body_bytes).toBeLessThan(body.length)

    // Within the limit, and without Content-Length, a streaming pack still verifies first.
    const small = JSON.stringify({ task: 'd'.repeat(1000) })
    const verified = await send(
      target,
      '/packs/streaming/upload',
      await signed('POST', '/packs/streaming/upload', small),
      small,
    )
    expect(await bodyClaim(target, verified, 'streaming')).toBe('verified')
    const unframed = await send(
      target,
      '/packs/streaming/upload',
      await signed('POST', '/packs/streaming/upload', body),
      chunked(body).stream,
    )
    expect(unframed.status).toBe(413)
  })
})

describe('signed bodies that end early', () => {
  it('item 4: a signed body whose sender goes away is 400, never a 500, and never reaches the backend whole', async () => {
    const body = 'a'.repeat(300_000)
    const buffered = await send(
      gw,
      '/packs/agents/upload',
      { ...(await signed('POST', '/packs/agents/upload', body)), 'content-length': '300000' },
      failing(4),
    )
    expect(buffered.status).toBe(400)
    expect(await buffered.json()).toMatchObject({
      status: 400,
      detail: 'The request body ended before it was complete.',
    })
    expect((await received(buffered)).arrived).toBe(false)

    const target = withBodySettings()
    const streamed = await send(
      target,
      '/packs/streaming/upload',
      { ...(await signed('POST', '/packs/streaming/upload', body)), 'content-length': '300000' },
      failing(8),
    )
    expect(streamed.status).toBe(400)
    expect((await received(streamed)).complete).toBe(false)
  })
})

describe('signature lifetime', () => {
  it('item 6: a signature whose expires has passed is refused, even within clock_skew', async () => {
    const now = Date.now()
    const expired = await gw.fetch('/packs/agents/x', {
      headers: await signed('GET', '/packs/agents/x', undefined, { created: now - 10_000, expires: now - 2_000 }),
    })
    expect(expired.status).toBe(401)
    expect(((await expired.json()) as { detail: string }).detail).toBe('The signature has expired.')
    // An expires before created is no lifetime at all.
    const backwards = await gw.fetch('/packs/agents/x', {
      headers: await signed('GET', '/packs/agents/x', undefined, { created: now - 1_000, expires: now - 5_000 }),
    })
    expect(backwards.status).toBe(401)
    // Still open: accepted.
    const open = await gw.fetch('/packs/agents/x', {
      headers: await signed('GET', '/packs/agents/x', undefined, { created: now - 10_000, expires: now + 5_000 }),
    })
    expect(open.status).toBe(200)
  })
})

describe('Signature-Agent', () => {
  async function botSigned(signatureAgent: string): Promise<Record<string, string>> {
    const response = await fetch(`${SIGNERS}/sign/web-bot-auth`, {
      method: 'POST',
      body: JSON.stringify({
        components: ['@method', '@authority', '@path', 'signature-agent'],
        request: { method: 'GET', url: `${GW}/packs/agents/crawl`, headers: {} },
        signature_agent: signatureAgent,
      }),
    })
    const answer = (await response.json()) as { headers: Record<string, string>; error?: string }
    if (!response.ok) throw new Error(answer.error)
    return answer.headers
  }

  it('item 7: a Signature-Agent that is not a bare origin is refused, never reduced to a trusted origin', async () => {
    const origin = keys.bot.directory
    const { host } = new URL(origin)
    for (const value of [
      `${origin}/x/..`,
      `${origin}/..`,
      `${origin}/.well-known/http-message-signatures-directory`,
      `${origin}/bots/../`,
      `${origin}?directory=1`,
      `${origin}#keys`,
      `http://user@${host}`,
      `HTTP://${host}`,
      ` ${origin}`,
    ]) {
      const response = await gw.fetch('/packs/agents/crawl', { headers: await botSigned(value) })
      expect(response.status, value).toBe(401)
      expect(((await response.json()) as { detail: string }).detail, value).toBe(
        'Signature-Agent must name the key directory by its origin alone (scheme, host and port).',
      )
    }
  })

  it('item 7: the bare origin (with or without a final "/") is accepted', async () => {
    for (const value of [keys.bot.directory, `${keys.bot.directory}/`]) {
      const response = await gw.fetch('/packs/agents/crawl', { headers: await botSigned(value) })
      expect(response.status, value).toBe(200)
    }
  })
})
