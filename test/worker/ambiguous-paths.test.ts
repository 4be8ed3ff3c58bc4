/**
 * Issue 12, item 18: on a pack whose agents decide access by path, a path that the gateway and
 * a backend may read differently is refused before it reaches the (real) backend; the switch
 * `strict_paths: false` relaxes it; and what is forwarded is always the normalized path the
 * decision was made on, with the query as the URL parser serialized it.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { backendOrigin, gateway, mintKey, verifiedInvoker, type Echo, type Gateway, type MintedKey } from './harness.ts'

const agents = (id: string, extra = ''): string => `
pack: ${id}
upstream: $BACKEND
match: { path_prefix: /packs/${id} }
auth: [api_key]
agents:
  InternalCRMQuery:
    path: /agents/InternalCRMQuery/**
    allow: [{ api_key: alice }]
${extra}`

const PACKS = {
  crm: agents('crm'),
  plain: 'pack: plain\nupstream: $BACKEND\nmatch: { path_prefix: /packs/plain }\nauth: [api_key]\n',
}

let gw: Gateway
let alice: MintedKey
let bob: MintedKey

beforeAll(async () => {
  alice = await mintKey('alice')
  bob = await mintKey('bob')
  gw = gateway(PACKS, `issuer: https://gateway.test\napi_keys:\n${alice.yaml}${bob.yaml}`)
})

/** The pack with the switch, built when first asked for (the other tests run without it). */
const relaxed = (): Gateway =>
  gateway(
    { lenient: agents('lenient', 'strict_paths: false') },
    `issuer: https://gateway.test\napi_keys:\n${alice.yaml}${bob.yaml}`,
  )

const as = (key: MintedKey): RequestInit => ({ headers: { 'x-api-key': key.key } })

async function arrived(response: Response): Promise<boolean> {
  const id = response.headers.get('x-request-id') as string
  return ((await (await fetch(`${backendOrigin()}/_control/received?id=${id}`)).json()) as { arrived: boolean }).arrived
}

// Each reaches the agent InternalCRMQuery on a backend that decodes twice, drops ";" parameters,
// strips trailing dots and spaces (Windows), opens NTFS streams, or splits at a decoded "?".
const AMBIGUOUS = [
  '/agents/%2549nternalCRMQuery/run',
  '/agents/x/%252e%252e/InternalCRMQuery/run',
  '/agents%252FInternalCRMQuery/run',
  '/agents;x=1/InternalCRMQuery/run',
  '/agents/InternalCRMQuery;jsessionid=1/run',
  '/agents./InternalCRMQuery/run',
  '/agents%20/InternalCRMQuery/run',
  '/agents/InternalCRMQuery::$DATA/run',
  '/agents/InternalCRMQuery%3A%3A%24DATA',
  '/agents/InternalCRMQuery%3F/run',
  '/agents/%C0%AE%C0%AE/agents/InternalCRMQuery/run',
  // A backend that matches routes with Unicode case folding: ı upper-cases to I, ſ to S.
  '/agents/%C4%B1nternalCRMQuery/run',
  '/agents/InternalCRMQuery/../Internal%C5%BFRMQuery/run',
  // Folding also drops default-ignorable characters, and ẞ folds to ss.
  '/agents/InternalCRMQuery%E2%80%8B/run',
  '/agents/InternalCRMQuer%C2%ADy/run',
]

describe('paths a backend may read differently', () => {
  it.each(AMBIGUOUS)(
    'item 18: %s is refused with 400 on a pack with agents and never reaches the backend',
    async (path) => {
      const response = await gw.fetch(`/packs/crm${path}`, as(bob))
      expect(response.status).toBe(400)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
      expect(((await response.json()) as { detail: string }).detail).toMatch(/^The request path was refused: /)
      expect(await arrived(response)).toBe(false)
    },
  )

  it('item 18: strict_paths: false lets them through as normalized, and a pack without agents is not strict', async () => {
    for (const [target, pack] of [
      [relaxed(), 'lenient'],
      [gw, 'plain'],
    ] as const) {
      const response = await target.fetch(`/packs/${pack}/agents;x=1/InternalCRMQuery/run`, as(bob))
      expect((await response.json()) as Echo).toMatchObject({ path: '/agents;x=1/InternalCRMQuery/run' })
    }
  })

  it('item 18: the backend receives the normalized path the decision was made on, and the query as parsed', async () => {
    const cases: [string, string][] = [
      ['/packs/crm/agents/x/../Other/%7e?a=%2e%2e/&b=;x&c=%252F', '/agents/Other/~?a=%2e%2e/&b=;x&c=%252F'],
      [
        '/packs/crm/./agents//Other/?q=/packs/crm/agents/InternalCRMQuery',
        '/agents/Other/?q=/packs/crm/agents/InternalCRMQuery',
      ],
      ['/packs/crm/agents/Other?', '/agents/Other'],
    ]
    for (const [sent, received] of cases) {
      const response = await gw.fetch(sent, as(bob))
      const echo = (await response.json()) as Echo
      expect(echo.path, sent).toBe(received)
      const { payload } = await verifiedInvoker(gw, echo.headers['x-invoker'] as string, 'crm')
      expect(payload['htu']).toBe(backendOrigin() + received.replace(/\?.*$/, ''))
    }
    // A query never picks the agent: the agent's list applies to the path alone.
    expect((await gw.fetch('/packs/crm/agents/InternalCRMQuery/run?x=/agents/Other', as(bob))).status).toBe(403)
  })
})
