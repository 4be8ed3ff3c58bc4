/**
 * Signed requests through the gateway to the real backend. Signatures come from independent
 * libraries (`http-message-signatures`, `web-bot-auth`, run in Node by the global setup) and,
 * for attacks a library will not produce, from a WebCrypto signer here. The nonce cache is the
 * Durable Object store.
 */
import { env } from 'cloudflare:test'
import { serializeDictionary, serializeInnerList, type InnerList } from 'structured-headers'
import { beforeAll, describe, expect, it } from 'vitest'
import { backendOrigin, gateway, verifiedInvoker, type Echo, type Gateway } from './harness.ts'

const SIGNERS = env.TEST_SIGNERS_ORIGIN
const GW = 'https://gw.test'

interface Keys {
  ed25519: JsonWebKey
  'ecdsa-p256-sha256': JsonWebKey
  'rsa-pss-sha512': JsonWebKey
  'rsa-v1_5-sha256': JsonWebKey
  hmacSecret: string
  bot: { jwk: JsonWebKey; keyid: string; directory: string }
}

let keys: Keys
let gw: Gateway
let local: { privateKey: CryptoKey; jwk: JsonWebKey }

const PACKS = {
  agents: `
pack: agents
upstream: $BACKEND
match: { path_prefix: /packs/agents }
auth: [envelope]
`,
  typed: `
pack: typed
upstream: $BACKEND
match: { path_prefix: /packs/typed }
auth: [envelope]
envelope: { signers: [chat-host], directories: [], cover: [content-type] }
`,
  keys: `
pack: keys
upstream: $BACKEND
match: { path_prefix: /packs/keys }
auth: [api_key]
anonymous: allow
`,
}

function gatewayYaml(): string {
  const jwk = (key: JsonWebKey) =>
    JSON.stringify({ kty: key.kty, crv: key.crv, x: key.x, y: key.y, n: key.n, e: key.e })
  return `
issuer: https://gateway.test
signers:
  chat-host:
    keyid: chat-host-1
    algorithm: ed25519
    jwk: ${jwk(keys.ed25519)}
    delegate: true
    invoker: { id: chat-host, kind: agent, label: Chat host }
  scheduler:
    keyid: scheduler-1
    algorithm: ecdsa-p256-sha256
    jwk: ${jwk(keys['ecdsa-p256-sha256'])}
  pss:
    keyid: pss-1
    algorithm: rsa-pss-sha512
    jwk: ${jwk(keys['rsa-pss-sha512'])}
  pkcs1:
    keyid: pkcs1-1
    algorithm: rsa-v1_5-sha256
    jwk: ${jwk(keys['rsa-v1_5-sha256'])}
  hmac-bot:
    keyid: hmac-1
    algorithm: hmac-sha256
    secret: HMAC_BOT_SECRET
  local:
    keyid: local-1
    algorithm: ed25519
    jwk: ${jwk(local.jwk)}
key_directories:
  - origin: ${keys.bot.directory}
    invoker: { label: Test crawler }
envelope: { max_age: 5m, clock_skew: 30s }
`
}

beforeAll(async () => {
  keys = (await (await fetch(`${SIGNERS}/keys`)).json()) as Keys
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  local = { privateKey: pair.privateKey, jwk: (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey }
  gw = gateway(PACKS, gatewayYaml(), undefined, { HMAC_BOT_SECRET: keys.hmacSecret, GATEWAY_STORE: env.GATEWAY_STORE })
})

interface Plain {
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string
}

async function digestOf(body: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)))
  return `sha-256=:${btoa(String.fromCharCode(...bytes))}:`
}

async function withDigest(request: Plain): Promise<Record<string, string>> {
  const headers = { ...request.headers }
  if (request.body !== undefined) {
    headers['content-digest'] ??= await digestOf(request.body)
    headers['content-type'] ??= 'application/json'
  }
  return headers
}

/** Signs with http-message-signatures (Node) and returns the headers to send. */
async function httpsig(
  alg: string,
  keyid: string,
  request: Plain,
  fields?: string[],
  extra: Record<string, unknown> = {},
): Promise<Record<string, string>> {
  const headers = await withDigest(request)
  const covered = fields ?? [
    '@method',
    '@authority',
    '@path',
    ...(request.path.includes('?') ? ['@query'] : []),
    ...(request.body !== undefined ? ['content-digest'] : []),
  ]
  const response = await fetch(`${SIGNERS}/sign/httpsig`, {
    method: 'POST',
    body: JSON.stringify({
      alg,
      keyid,
      fields: covered,
      request: { method: request.method ?? 'GET', url: GW + request.path, headers },
      ...extra,
    }),
  })
  const body = (await response.json()) as { headers: Record<string, string>; error?: string }
  if (!response.ok) throw new Error(body.error)
  return body.headers
}

/** Signs with Cloudflare's web-bot-auth (Node): keyid is the JWK thumbprint, Signature-Agent names the directory. */
async function webBotAuth(request: Plain, components: string[]): Promise<Record<string, string>> {
  const response = await fetch(`${SIGNERS}/sign/web-bot-auth`, {
    method: 'POST',
    body: JSON.stringify({
      components,
      request: { method: request.method ?? 'GET', url: GW + request.path, headers: await withDigest(request) },
    }),
  })
  const body = (await response.json()) as { headers: Record<string, string>; error?: string }
  if (!response.ok) throw new Error(body.error)
  return body.headers
}

/** A signer written here with WebCrypto and structured-headers, for messages no library makes. */
async function localSign(
  request: Plain,
  options: {
    components?: string[]
    params?: Record<string, string | number>
    label?: string
    base?: (base: string) => string
  } = {},
): Promise<Record<string, string>> {
  const headers = await withDigest(request)
  const url = new URL(GW + request.path)
  const now = Math.floor(Date.now() / 1000)
  const components = options.components ?? [
    '@method',
    '@authority',
    '@path',
    ...(url.search ? ['@query'] : []),
    ...(request.body !== undefined ? ['content-digest'] : []),
  ]
  const params = new Map<string, string | number>(
    Object.entries({ created: now, keyid: 'local-1', nonce: crypto.randomUUID(), ...options.params }),
  )
  const inner: InnerList = [components.map((c) => [c, new Map()]), params]
  const values: Record<string, string> = {
    '@method': request.method ?? 'GET',
    '@authority': url.host,
    '@path': url.pathname,
    '@query': url.search || '?',
    '@target-uri': url.href,
  }
  const lines = components.map((c) => `"${c}": ${values[c] ?? headers[c] ?? ''}`)
  lines.push(`"@signature-params": ${serializeInnerList(inner)}`)
  const base = (options.base ?? ((b: string) => b))(lines.join('\n'))
  const signature = new Uint8Array(
    await crypto.subtle.sign('Ed25519', local.privateKey, new TextEncoder().encode(base)),
  )
  const label = options.label ?? 'sig1'
  return {
    ...headers,
    'signature-input': serializeDictionary(new Map([[label, inner]])),
    signature: serializeDictionary(new Map([[label, [signature.buffer as ArrayBuffer, new Map()]]])),
  }
}

/** What a real client sends: a body goes with its Content-Length. */
const send = (request: Plain, headers: Record<string, string>) =>
  gw.fetch(request.path, {
    method: request.method ?? 'GET',
    headers:
      request.body !== undefined
        ? { ...headers, 'content-length': String(new TextEncoder().encode(request.body).length) }
        : headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  })

async function expectRefused(response: Response, detail?: string): Promise<void> {
  expect(response.status).toBe(401)
  expect(response.headers.get('accept-signature')).toMatch(/^sig1=\("@method" "@authority" "@path"/)
  if (detail !== undefined) expect(((await response.json()) as { detail: string }).detail).toBe(detail)
}

describe('signed requests from independent signers', () => {
  it.each([
    ['ed25519', 'chat-host-1', 'chat-host', 'agent'],
    ['ecdsa-p256-sha256', 'scheduler-1', 'signer:scheduler', 'agent'],
    ['rsa-pss-sha512', 'pss-1', 'signer:pss', 'agent'],
    ['rsa-v1_5-sha256', 'pkcs1-1', 'signer:pkcs1', 'agent'],
    ['hmac-sha256', 'hmac-1', 'signer:hmac-bot', 'agent'],
  ])('http-message-signatures with %s reaches the backend as its signer', async (alg, keyid, id, kind) => {
    const request = { method: 'POST', path: '/packs/agents/run?q=1', body: '{"task":"summarize"}' }
    const response = await send(request, await httpsig(alg, keyid, request))
    expect(response.status).toBe(200)
    const echo = (await response.json()) as Echo
    expect(echo.body_bytes).toBe(request.body.length)
    expect(echo.headers['signature']).toBeUndefined()
    expect(echo.headers['signature-input']).toBeUndefined()
    const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'agents')
    expect(payload['invoker']).toMatchObject({ id, kind })
    expect(payload['auth']).toMatchObject({ method: 'envelope' })
    expect(payload['htu']).toBe(`${backendOrigin()}/run`)
  })

  it('an HMAC signer whose secret is shorter than 32 bytes verifies nothing: 503, not a signature check', async () => {
    const short = btoa(atob(keys.hmacSecret).slice(0, 31))
    const weak = gateway(PACKS, gatewayYaml(), undefined, { HMAC_BOT_SECRET: short, GATEWAY_STORE: env.GATEWAY_STORE })
    const request = { method: 'POST', path: '/packs/agents/run', body: '{}' }
    const headers = { ...(await httpsig('hmac-sha256', 'hmac-1', request)), 'content-length': '2' }
    const response = await weak.fetch(request.path, { method: request.method, body: request.body, headers })
    expect(response.status).toBe(503)
  })

  it('web-bot-auth with a key from a trusted directory reaches the backend as the directory', async () => {
    const request = { path: '/packs/agents/crawl' }
    const response = await send(
      request,
      await webBotAuth(request, ['@method', '@authority', '@path', 'signature-agent']),
    )
    expect(response.status).toBe(200)
    const { payload } = await verifiedInvoker(
      gw,
      ((await response.json()) as Echo).headers['x-invoker'] as string,
      'agents',
    )
    expect(payload['invoker']).toEqual({ id: keys.bot.directory, kind: 'agent', label: 'Test crawler', meta: {} })
    expect(payload['auth']).toEqual({ method: 'envelope', signer: keys.bot.directory })
  })

  it('refuses web-bot-auth for a directory the pack does not accept, and its default components (no @method, @path)', async () => {
    const typed = { path: '/packs/typed/crawl' }
    await expectRefused(
      await send(typed, await webBotAuth(typed, ['@method', '@authority', '@path', 'signature-agent'])),
    )
    const request = { path: '/packs/agents/crawl' }
    await expectRefused(
      await send(request, await webBotAuth(request, ['@authority', 'signature-agent'])),
      'The signature does not cover what this pack requires (see Accept-Signature).',
    )
  })

  it("lets a delegating signer act for a user, who becomes the invoker with kind chat, in the signer's namespace", async () => {
    const request = { path: '/packs/agents/ask', headers: { 'on-behalf-of': 'alice' } }
    const response = await send(
      request,
      await httpsig('ed25519', 'chat-host-1', request, ['@method', '@authority', '@path', 'on-behalf-of']),
    )
    expect(response.status).toBe(200)
    const received = (await response.json()) as Echo
    // The user travels in X-Invoker only: a backend reading On-Behalf-Of would trust any caller's.
    expect(received.headers['on-behalf-of']).toBeUndefined()
    const { payload } = await verifiedInvoker(gw, received.headers['x-invoker'] as string, 'agents')
    expect(payload['sub']).toBe('chat-host:alice')
    expect(payload['invoker']).toEqual({ id: 'chat-host:alice', kind: 'chat', meta: { signer: 'chat-host' } })
    expect(payload['auth']).toEqual({ method: 'envelope', signer: 'chat-host', on_behalf_of: 'alice' })
  })

  it("requires the pack's extra components", async () => {
    const request = { method: 'POST', path: '/packs/typed/run', body: '{}' }
    await expectRefused(await send(request, await httpsig('ed25519', 'chat-host-1', request)))
    const covered = await httpsig('ed25519', 'chat-host-1', request, [
      '@method',
      '@authority',
      '@path',
      'content-digest',
      'content-type',
    ])
    expect((await send(request, covered)).status).toBe(200)
  })

  it('passes Signature fields untouched on a pack that does not take signed requests', async () => {
    const request = { path: '/packs/keys/x' }
    const response = await send(request, await httpsig('ed25519', 'chat-host-1', request))
    expect(response.status).toBe(200)
    expect(((await response.json()) as Echo).headers['signature-input']).toContain('keyid="chat-host-1"')
  })
})

describe('attacks on signed requests', () => {
  const get = { path: '/packs/agents/x' }

  it('refuses a replayed nonce', async () => {
    const headers = await httpsig('ed25519', 'chat-host-1', get)
    expect((await send(get, headers)).status).toBe(200)
    await expectRefused(await send(get, headers), 'The signature has been used before.')
  })

  it('refuses a signature without nonce while nonces are required', async () => {
    await expectRefused(await send(get, await httpsig('ed25519', 'chat-host-1', get, undefined, { nonce: null })))
  })

  it('refuses an expired signature, one created too long ago, and one created in the future', async () => {
    const hourAgo = Date.now() - 3_600_000
    await expectRefused(
      await send(
        get,
        await httpsig('ed25519', 'chat-host-1', get, undefined, { created: hourAgo - 60_000, expires: hourAgo }),
      ),
      'The signature has expired.',
    )
    await expectRefused(
      await send(
        get,
        await httpsig('ed25519', 'chat-host-1', get, undefined, { created: hourAgo, expires: Date.now() + 60_000 }),
      ),
      'The signature has expired.',
    )
    const future = Math.floor(Date.now() / 1000) + 600
    await expectRefused(
      await send(get, await localSign(get, { params: { created: future } })),
      "The signature was created in the future; check the signer's clock.",
    )
  })

  it('refuses a signature that does not cover @authority (cross-host replay) or @method or @path', async () => {
    for (const components of [
      ['@method', '@path'],
      ['@authority', '@path'],
      ['@method', '@authority'],
    ]) {
      await expectRefused(await send(get, await localSign(get, { components })))
    }
    const withQuery = { path: '/packs/agents/x?user=alice' }
    await expectRefused(
      await send(withQuery, await localSign(withQuery, { components: ['@method', '@authority', '@path'] })),
    )
    expect((await send(withQuery, await localSign(withQuery, { components: ['@method', '@target-uri'] }))).status).toBe(
      200,
    )
  })

  it('refuses a signature replayed to another host', async () => {
    const headers = await localSign(get)
    const other = await gw.fetch('https://other-host.test/packs/agents/x', { headers })
    expect(other.status).toBe(401)
  })

  it('refuses a body without content-digest covered, and a body changed after signing, which never reaches the backend whole', async () => {
    const post = { method: 'POST', path: '/packs/agents/upload', body: 'x'.repeat(300_000) }
    await expectRefused(await send(post, await localSign(post, { components: ['@method', '@authority', '@path'] })))
    const signed = await httpsig('ed25519', 'chat-host-1', post)
    const tampered = await gw.fetch(post.path, {
      method: 'POST',
      headers: { ...signed, 'content-length': '300000' },
      body: 'y'.repeat(300_000),
    })
    expect(tampered.status).toBe(401)
    expect(((await tampered.json()) as { detail: string }).detail).toBe('The body does not match its Content-Digest.')
    const seen = await fetch(
      `${backendOrigin()}/_control/seen?name=upload-complete-${tampered.headers.get('x-request-id')}`,
    )
    expect(await seen.text()).toBe('false')
    // The same request with the signed body arrives whole.
    const intact = await gw.fetch(post.path, {
      method: 'POST',
      headers: { ...(await httpsig('ed25519', 'chat-host-1', post)), 'content-length': '300000' },
      body: post.body,
    })
    expect(intact.status).toBe(200)
    expect(
      await (
        await fetch(`${backendOrigin()}/_control/seen?name=upload-complete-${intact.headers.get('x-request-id')}`)
      ).text(),
    ).toBe('true')
    // Without Content-Length the body is read whole and checked before it is forwarded.
    expect(
      (
        await gw.fetch(post.path, {
          method: 'POST',
          headers: await httpsig('ed25519', 'chat-host-1', post),
          body: post.body,
        })
      ).status,
    ).toBe(200)
    // A digest that matches the changed body does not help: it is not the one that was signed.
    const swapped = { ...signed, 'content-length': '300000', 'content-digest': await digestOf('y'.repeat(300_000)) }
    expect((await gw.fetch(post.path, { method: 'POST', headers: swapped, body: 'y'.repeat(300_000) })).status).toBe(
      401,
    )
  })

  it('checks every digest the Content-Digest gives, not only the strongest (red team 2, F6)', async () => {
    const body = '{"a":1}'
    const sha512 = new Uint8Array(await crypto.subtle.digest('SHA-512', new TextEncoder().encode(body)))
    const right512 = `sha-512=:${btoa(String.fromCharCode(...sha512))}:`
    const wrong256 = await digestOf('something else')
    const post = (digest: string) => ({
      method: 'POST',
      path: '/packs/agents/upload',
      body,
      headers: { 'content-digest': digest },
    })
    for (const digest of [`${wrong256}, ${right512}`, `${right512}, ${wrong256}`]) {
      const request = post(digest)
      const response = await send(request, await httpsig('ed25519', 'chat-host-1', request))
      expect(response.status, digest).toBe(401)
      expect(((await response.json()) as { detail: string }).detail).toBe('The body does not match its Content-Digest.')
    }
    const both = post(`${await digestOf(body)}, ${right512}`)
    expect((await send(both, await httpsig('ed25519', 'chat-host-1', both))).status).toBe(200)
  })

  it('refuses a changed method', async () => {
    const headers = await localSign(get)
    expect((await gw.fetch(get.path, { method: 'DELETE', headers })).status).toBe(401)
  })

  it('refuses a covered header that is absent', async () => {
    const headers = await localSign(get, { components: ['@method', '@authority', '@path', 'x-tenant'] })
    await expectRefused(await send(get, headers))
  })

  it('refuses two signatures by known signers even when one is valid', async () => {
    const valid = await localSign(get, { label: 'good' })
    const broken = await localSign(get, { label: 'bad', base: (base) => base + 'tampered' })
    const both = {
      'signature-input': `${valid['signature-input']}, ${broken['signature-input']}`,
      signature: `${valid['signature']}, ${broken['signature']}`,
    }
    await expectRefused(
      await send(get, both),
      'More than one signature by a known signer was presented; send exactly one.',
    )
  })

  it("refuses another signer's keyid, an algorithm other than the key's, and an HMAC key used as asymmetric", async () => {
    await expectRefused(await send(get, await localSign(get, { params: { keyid: 'chat-host-1' } })))
    await expectRefused(await send(get, await localSign(get, { params: { alg: 'ecdsa-p256-sha256' } })))
    // The signer's HMAC keyid, an Ed25519 signature and alg claim: the key's pinned algorithm wins.
    await expectRefused(await send(get, await localSign(get, { params: { keyid: 'hmac-1', alg: 'ed25519' } })))
    await expectRefused(await send(get, await localSign(get, { params: { keyid: 'hmac-1' } })))
  })

  it('refuses a 1 MB Signature header with 401, not 500', async () => {
    const headers = await localSign(get)
    const response = await send(get, { ...headers, signature: `sig1=:${'A'.repeat(1_000_000)}:` })
    expect(response.status).toBe(401)
    expect(((await response.json()) as { detail: string }).detail).toBe('The credential is too large.')
  })

  it('refuses delegation by a signer without the right, and an uncovered delegation header', async () => {
    const request = { path: '/packs/agents/ask', headers: { 'on-behalf-of': 'alice' } }
    await expectRefused(
      await send(
        request,
        await httpsig('ecdsa-p256-sha256', 'scheduler-1', request, ['@method', '@authority', '@path', 'on-behalf-of']),
      ),
    )
    await expectRefused(await send(request, await httpsig('ed25519', 'chat-host-1', request)))
  })

  it('refuses garbage in the signature fields with 401', async () => {
    const garbage: [string, string][] = [
      ['sig1=(', 'sig1=:AA==:'],
      ['sig1=("@method");created=1;keyid="local-1"', 'sig1=notbytes'],
      ['sig1="x"', 'sig1=:AA==:'],
      ['sig1=("@method");keyid="local-1"', 'other=:AA==:'],
    ]
    for (const [input, signature] of garbage) {
      expect((await send(get, { 'signature-input': input, signature })).status, input).toBe(401)
    }
  })
})
