/**
 * Red team F5: the gateway fetches the upstream with `cache: 'no-store'`, so an answer for one
 * invoker is never kept in or served from the zone's cache. What Cloudflare's cache does with
 * the option cannot be seen locally; what workerd does with it can: it sends `Cache-Control:
 * no-cache` and `Pragma: no-cache` on a request that has no `Cache-Control` of its own (as
 * Cloudflare does towards another zone's origin), which the real backend echoes. Without the
 * option, neither field is sent.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { gateway, mintKey, type Echo, type Gateway, type MintedKey } from './harness.ts'

let gw: Gateway
let alice: MintedKey

beforeAll(async () => {
  alice = await mintKey('alice')
  gw = gateway(
    { plain: 'pack: plain\nupstream: $BACKEND\nmatch: { path_prefix: /packs/plain }\nauth: [api_key]\n' },
    `issuer: https://gateway.test\napi_keys:\n${alice.yaml}`,
  )
})

async function echo(headers: Record<string, string> = {}): Promise<Echo> {
  const response = await gw.fetch('/packs/plain/report.json', { headers: { 'x-api-key': alice.key, ...headers } })
  expect(response.status).toBe(200)
  return (await response.json()) as Echo
}

describe('the upstream fetch and the zone cache', () => {
  it('F5: is made with cache: no-store (workerd marks the request no-cache)', async () => {
    const received = await echo()
    expect(received.headers['cache-control']).toBe('no-cache')
    expect(received.headers['pragma']).toBe('no-cache')
  })

  it("F5: leaves the caller's own Cache-Control as it was", async () => {
    const received = await echo({ 'cache-control': 'max-age=0' })
    expect(received.headers['cache-control']).toBe('max-age=0')
  })
})
