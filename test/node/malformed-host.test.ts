/**
 * A Host field the runtime cannot make a URL of (red team, 2026-12-01). workerd builds the
 * request's URL from the raw Host, so only a real workerd process reached over a raw socket
 * shows it: before, such a request got the runtime's plain-text 500, with no log line.
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestBackend, type TestBackend } from '../support/backend.ts'
import { compileYaml } from '../support/policy.ts'
import { testSigningKeys } from '../support/signing-keys.ts'
import { startWorkerdGateways, type RunningGateways } from '../support/workerd-gateways.ts'

let backend: TestBackend
let gateways: RunningGateways

beforeAll(async () => {
  backend = await startTestBackend()
  const { policy } = compileYaml(
    {
      open: `pack: open\nupstream: ${backend.origin}\nmatch: { path_prefix: /open }\nauth: [api_key]\nanonymous: allow\n`,
    },
    'issuer: https://gateway.test\n',
  )
  gateways = await startWorkerdGateways(policy, [
    [{ name: 'gw', bindings: { INVOKER_SIGNING_KEYS: JSON.stringify(await testSigningKeys()) } }],
  ])
}, 120_000)

afterAll(async () => {
  await gateways?.stop()
  await backend?.close()
})

/** Sends one raw HTTP/1.1 request and returns what came back, whole. */
function raw(origin: string, head: string): Promise<string> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head))
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      answer += chunk
    })
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
  })
}

describe('a Host the runtime cannot make a URL of', () => {
  it('is answered 400 problem+json, not a 500', async () => {
    const origin = gateways.origins['gw'] as string
    // The same request with a good Host reaches the pack: the socket and the gateway work.
    const good = await raw(
      origin,
      `GET /open/x HTTP/1.1\r\nHost: 127.0.0.1\r\nCF-Connecting-IP: 10.1.2.3\r\nConnection: close\r\n\r\n`,
    )
    expect(good.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
    for (const host of ['a b', '[::1', '127.0.0.1:99999']) {
      const answer = await raw(
        origin,
        `GET /open/x HTTP/1.1\r\nHost: ${host}\r\nCF-Connecting-IP: 10.1.2.3\r\nConnection: close\r\n\r\n`,
      )
      expect(answer.split('\r\n')[0], host).toBe('HTTP/1.1 400 Bad Request')
      expect(answer.toLowerCase(), host).toContain('content-type: application/problem+json')
      expect(answer, host).toContain('"status":400')
    }
  })
})
