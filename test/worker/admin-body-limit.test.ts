/**
 * Issue 12, item 13: the admin endpoint bounds its body while reading it. A declared
 * Content-Length over the cap is refused before a byte is read; a body without one is cut off
 * at the cap. Both are 413 problem+json, and a body within the cap still mints.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { gateway } from './harness.ts'

const ADMIN_TOKEN = 'test-admin-token-that-is-long-enough'
const PATH = '/.well-known/invoker-gateway/keys'
const CAP = 8 * 1024
const gw = gateway(
  { deploys: 'pack: deploys\nupstream: $BACKEND\nmatch: { path_prefix: /deploys }\nauth: [api_key]\n' },
  'issuer: https://gateway.test\n',
  undefined,
  { GATEWAY_STORE: env.GATEWAY_STORE, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN },
)

/** Fails the test instead of waiting for vitest's timeout when the gateway keeps reading. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)),
  ])
}

/** `total` bytes of JSON-ish filler in 4 KiB chunks; counts how much the gateway pulled. */
function filler(total: number, hangAfterFirst = false): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (hangAfterFirst && sent > 0) return new Promise<void>(() => undefined)
      if (sent >= total) return controller.close()
      controller.enqueue(new Uint8Array(4096).fill(0x20))
      sent += 4096
    },
  })
  return { stream, pulled: () => sent }
}

async function expect413(response: Response): Promise<void> {
  expect(response.status).toBe(413)
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  expect(await response.json()).toMatchObject({ status: 413, type: 'urn:invoker-gateway:problem:content-too-large' })
}

describe('the admin endpoint body', () => {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }

  it('item 13: a declared Content-Length over the cap is refused at once, without reading the body', async () => {
    // The body sends one chunk and then never another: a gateway that reads it waits forever.
    const body = filler(1_000_000, true)
    const response = await within(
      3000,
      gw.fetch(PATH, { method: 'POST', headers: { ...headers, 'content-length': '1000000' }, body: body.stream }),
    )
    await expect413(response)
    expect(body.pulled()).toBeLessThanOrEqual(2 * 4096)
  })

  it('item 13: a body without Content-Length is cut off at the cap', async () => {
    const body = filler(4 * 1024 * 1024)
    const response = await within(3000, gw.fetch(PATH, { method: 'POST', headers, body: body.stream }))
    await expect413(response)
    // The cap plus the chunk that crossed it (and one the stream queued ahead), not 4 MiB.
    expect(body.pulled()).toBeLessThanOrEqual(CAP + 2 * 4096)
  })

  it('item 13: a body whose sender goes away is 400, not 500', async () => {
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 1) return controller.error(new Error('the client went away'))
        controller.enqueue(new Uint8Array(1024).fill(0x20))
      },
    })
    const response = await gw.fetch(PATH, { method: 'POST', headers, body })
    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toBe('application/problem+json')
  })

  it('item 13: a body within the cap still mints', async () => {
    const { key, keyId } = generateApiKey()
    const response = await gw.fetch(PATH, {
      method: 'POST',
      headers,
      body: JSON.stringify({ key_id: keyId, sha256: await sha256Hex(key), name: 'capped', packs: ['deploys'] }),
    })
    expect(response.status).toBe(201)
  })
})
