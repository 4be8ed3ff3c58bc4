/**
 * MCP packs inside workerd, against a real MCP server built with the official SDK (SSE and JSON
 * answers, started by the global setup) and real tokens from the test OpenID provider: resource
 * metadata and challenges (RFC 9728), audience binding (RFC 8707), per-tool policy, filtered tool
 * lists, what the backend receives, body limits, report mode and rate limits by tool.
 */
import { env } from 'cloudflare:test'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { AGENTS_RESOURCE, clientCredentialsToken, OIDC_CLIENTS } from '../support/oidc-client.ts'
import { gateway, mintKey, type Gateway, type MintedKey } from './harness.ts'

const IDP = env.TEST_OIDC_ISSUER
const MCP = env.TEST_MCP_ORIGIN
const TOOLS = 'https://gw.test/mcp/tools'
const JSON_PACK = 'https://gw.test/mcp/json'
const ACCEPT = 'application/json, text/event-stream'

let alice: MintedKey
let bob: MintedKey
let gw: Gateway

const mcpPack = (id: string, path: string, upstream: string, extra: string): string => `
pack: ${id}
upstream: ${upstream}
match: { path_prefix: ${path} }
protocol: mcp
auth: [api_key, bearer]
bearer: { issuers: [idp], scopes: { all_of: [agents:read] } }
allow: [{ api_key: [alice, bob] }, { kind: service }]
${extra}`

beforeAll(async () => {
  alice = await mintKey('alice')
  bob = await mintKey('bob')
  gw = gateway(
    {
      tools: mcpPack(
        'tools',
        '/mcp/tools',
        `${MCP}/sse`,
        `
mcp:
  resource: ${TOOLS}
  tools:
    default: allow
    names:
      delete_record: { allow: [{ api_key: alice }, { kind: service }] }
      "admin_*": { deny: [{ kind: "*" }] }
`,
      ),
      limited: mcpPack(
        'limited',
        '/mcp/limited',
        `${MCP}/sse`,
        `
mcp: { resource: https://gw.test/mcp/limited }
rate_limits:
  - { id: each-tool, by: tool, limit: 1, window: 1m, when: { tool: ["echo", "who*"] }, on_error: deny }
`,
      ),
      json: mcpPack(
        'json',
        '/mcp/json',
        `${MCP}/json`,
        `
mcp:
  resource: ${JSON_PACK}
  tools:
    default: deny
    names: { echo: {}, whoami: {}, "delete_*": { allow: [{ api_key: alice }] } }
`,
      ),
      raw: mcpPack(
        'raw',
        '/mcp/raw',
        `${MCP}/raw`,
        `
mcp:
  resource: https://gw.test/mcp/raw
  max_body_bytes: 2048
  tools:
    default: allow
    names: { "tool_1*": { allow: [{ api_key: alice }] } }
`,
      ),
      report: mcpPack(
        'report',
        '/mcp/report',
        `${MCP}/sse`,
        `
mode: report
mcp:
  resource: https://gw.test/mcp/report
  tools: { default: deny, names: { echo: {} } }
`,
      ),
      passing: mcpPack(
        'passing',
        '/mcp/passing',
        `${MCP}/json`,
        `
pass_credentials: true
mcp: { resource: https://gw.test/mcp/passing }
cors: { origins: [https://app.test] }
`,
      ),
      lockstep: mcpPack(
        'lockstep',
        '/mcp/lockstep',
        env.TEST_BACKEND_ORIGIN,
        `
mcp:
  resource: https://gw.test/mcp/lockstep
  tools: { default: deny }
`,
      ),
      plain: `
pack: plain
upstream: $BACKEND
match: { path_prefix: /plain }
auth: [bearer]
bearer: { issuers: [idp] }
`,
    },
    `
issuer: https://gateway.test
store_timeout: 10s
api_keys:
${alice.yaml}${bob.yaml}issuers:
  idp:
    issuer: ${IDP}
    jwks_uri: ${IDP}/jwks
    audience: ${AGENTS_RESOURCE}
    algorithms: [ES256]
`,
    undefined,
    { GATEWAY_STORE: env.GATEWAY_STORE },
  )
})

afterEach(() => void vi.restoreAllMocks())

const token = (resource: string, scope = 'agents:read'): Promise<string> =>
  clientCredentialsToken(`${IDP}/token`, OIDC_CLIENTS.agent, { resource, scope })

function post(
  path: string,
  body: unknown,
  credential: string | MintedKey,
  headers: Record<string, string> = {},
): Promise<Response> {
  return gw.fetch(path, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${typeof credential === 'string' ? credential : credential.key}`,
      'content-type': 'application/json',
      accept: ACCEPT,
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/** The JSON-RPC messages of an answer, SSE or JSON. */
async function messages(response: Response): Promise<Array<Record<string, unknown>>> {
  const text = await response.text()
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream'))
    return [JSON.parse(text) as Record<string, unknown>]
  return text
    .split(/\n\n/)
    .flatMap((event) =>
      event
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6)),
    )
    .filter((data) => data.startsWith('{'))
    .map((data) => JSON.parse(data) as Record<string, unknown>)
}

const answer = async (response: Response): Promise<Record<string, unknown>> =>
  (await messages(response)).find((m) => 'result' in m || 'error' in m) as Record<string, unknown>

/** An initialized session with the stateful test server: its id, for the next requests. */
async function session(path: string, credential: string | MintedKey): Promise<Record<string, string>> {
  const init = await post(
    path,
    {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    },
    credential,
  )
  expect(init.status).toBe(200)
  await init.arrayBuffer()
  const headers = {
    'mcp-session-id': init.headers.get('mcp-session-id') as string,
    'mcp-protocol-version': '2025-11-25',
  }
  const initialized = await post(path, { jsonrpc: '2.0', method: 'notifications/initialized' }, credential, headers)
  expect(initialized.status).toBe(202)
  return headers
}

const call = (name: string, args: Record<string, unknown> = {}, id: number | string = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
})
const LIST = { jsonrpc: '2.0', id: 5, method: 'tools/list' }
const toolNames = async (response: Response): Promise<string[]> =>
  ((await answer(response))['result'] as { tools: { name: string }[] }).tools.map((t) => t.name)

describe('discovery (RFC 9728)', () => {
  it("serves each MCP pack's Protected Resource Metadata at the path-inserted well-known URL", async () => {
    const response = await gw.fetch('/.well-known/oauth-protected-resource/mcp/tools')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(await response.json()).toEqual({
      resource: TOOLS,
      authorization_servers: [IDP],
      scopes_supported: ['agents:read'],
      bearer_methods_supported: ['header'],
      resource_name: 'tools',
    })
    expect((await gw.fetch('/.well-known/oauth-protected-resource/mcp/nothing')).status).toBe(404)
    expect((await gw.fetch('/.well-known/oauth-protected-resource')).status).toBe(404)
  })

  it('answers every 401 of an MCP pack with a Bearer challenge first, naming the metadata and the scope', async () => {
    const missing = await gw.fetch('/mcp/tools', { method: 'POST', body: '{}' })
    expect(missing.status).toBe(401)
    const challenge = missing.headers.get('www-authenticate') as string
    expect(
      challenge.startsWith(
        'Bearer realm="invoker-gateway", resource_metadata="https://gw.test/.well-known/oauth-protected-resource/mcp/tools", scope="agents:read"',
      ),
    ).toBe(true)
    expect(challenge).toContain('ApiKey realm="invoker-gateway"')
    const invalid = await post('/mcp/tools', LIST, 'not.a.token')
    expect(invalid.status).toBe(401)
    expect(invalid.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="invoker-gateway", resource_metadata="[^"]+", error="invalid_token"/,
    )
    // A plain pack's challenge is what it was.
    expect((await gw.fetch('/plain/x')).headers.get('www-authenticate')).toBe('Bearer realm="invoker-gateway"')
  })

  it('names the whole scope set with resource_metadata in an insufficient_scope answer (step-up)', async () => {
    const response = await post('/mcp/tools', LIST, await token(TOOLS, 'agents:write'))
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="invoker-gateway", resource_metadata="https://gw.test/.well-known/oauth-protected-resource/mcp/tools", error="insufficient_scope", scope="agents:read"',
    )
  })
})

describe('audience binding (RFC 8707)', () => {
  it("admits a token issued for the pack's resource, and refuses one for another resource or the plain audience", async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const own = await token(TOOLS)
    expect(await toolNames(await post('/mcp/tools', LIST, own, await session('/mcp/tools', own)))).toContain('echo')
    for (const other of [JSON_PACK, AGENTS_RESOURCE]) {
      const response = await post('/mcp/tools', LIST, await token(other))
      expect(response.status, other).toBe(401)
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
    }
    const refused = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['status'] === 401)
    expect(refused.map((line) => [line['reason'], line['problem']])).toEqual([
      ['bearer_invalid', 'audience'],
      ['bearer_invalid', 'audience'],
    ])
  })

  it('does not let a token for an MCP pack open any other pack', async () => {
    expect(
      (await gw.fetch('/plain/x', { headers: { authorization: `Bearer ${await token(AGENTS_RESOURCE)}` } })).status,
    ).toBe(200)
    const response = await gw.fetch('/plain/x', { headers: { authorization: `Bearer ${await token(TOOLS)}` } })
    expect(response.status).toBe(401)
  })

  it("never forwards the caller's token, unless the pack says pass_credentials", async () => {
    const bearerToken = await token(TOOLS)
    const headers = await session('/mcp/tools', bearerToken)
    const seen = JSON.parse(
      (
        (await answer(await post('/mcp/tools', call('whoami'), bearerToken, headers)))['result'] as {
          content: { text: string }[]
        }
      ).content[0]?.text as string,
    )
    expect(seen['authorization']).toBeNull()
    const passing = await session('/mcp/passing', alice)
    const passed = JSON.parse(
      (
        (await answer(await post('/mcp/passing', call('whoami'), alice, passing)))['result'] as {
          content: { text: string }[]
        }
      ).content[0]?.text as string,
    )
    expect(passed['authorization']).toBe(`Bearer ${alice.key}`)
  })
})

describe('browser MCP clients', () => {
  it("may send and read the transport's own fields on a pack with CORS", async () => {
    const preflight = await gw.fetch('/mcp/passing', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.test',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'mcp-session-id, mcp-protocol-version',
      },
    })
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(
      /mcp-session-id.*mcp-protocol-version.*last-event-id/,
    )
    const init = await post(
      '/mcp/passing',
      {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      },
      alice,
      { origin: 'https://app.test' },
    )
    expect(init.headers.get('access-control-expose-headers')).toContain('mcp-session-id')
    expect(init.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('tool policy', () => {
  it("forwards an allowed call, with the method and tool in X-Invoker and the transport's fields untouched", async () => {
    const headers = await session('/mcp/tools', alice)
    const response = await post('/mcp/tools', call('whoami'), alice, { ...headers, 'last-event-id': 'ev-9' })
    expect(response.headers.get('content-type')).toBe('text/event-stream')
    const seen = JSON.parse(
      ((await answer(response))['result'] as { content: { text: string }[] }).content[0]?.text as string,
    ) as Record<string, string>
    expect(seen).toMatchObject({
      'mcp-session-id': headers['mcp-session-id'],
      'mcp-protocol-version': '2025-11-25',
      'last-event-id': 'ev-9',
      authorization: null,
    })
    const jwks = (await (await gw.fetch('/.well-known/jwks.json')).json()) as { keys: [] }
    const { payload } = await jwtVerify(seen['x-invoker'] as string, createLocalJWKSet(jwks), {
      issuer: 'https://gateway.test',
      audience: 'tools',
    })
    expect(payload['mcp']).toEqual({ method: 'tools/call', tool: 'whoami' })
    expect(payload['sub']).toBe('apikey:alice')
  })

  it("answers a refused call with a JSON-RPC error carrying the request's id, and logs the denial", async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const headers = await session('/mcp/tools', bob)
    const response = await post('/mcp/tools', call('delete_record', { id: 'r1' }, 'call-7'), bob, headers)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    const body = (await response.json()) as {
      jsonrpc: string
      id: string
      error: { code: number; message: string; data: Record<string, string> }
    }
    expect(body).toMatchObject({
      jsonrpc: '2.0',
      id: 'call-7',
      error: {
        code: -32602,
        message: 'Tool "delete_record" is not available to this caller: not on the tool\'s allow list.',
      },
    })
    expect(body.error.data).toEqual({
      type: 'urn:invoker-gateway:problem:tool-forbidden',
      title: 'Forbidden',
      request_id: response.headers.get('x-request-id'),
    })
    const log = JSON.parse(lines.at(-1) as string)
    expect(log).toMatchObject({
      decision: 'deny',
      reason: 'tool_denied',
      mcp_method: 'tools/call',
      mcp_tool: 'delete_record',
      invoker_id: 'apikey:bob',
      status: 200,
    })
    // A deny list on a glob refuses everyone; the same call by alice passes.
    expect(
      (await answer(await post('/mcp/tools', call('admin_reset'), alice, await session('/mcp/tools', alice))))['error'],
    ).toMatchObject({ code: -32602 })
    expect(
      (
        await answer(
          await post('/mcp/tools', call('delete_record', { id: 'r1' }), alice, await session('/mcp/tools', alice)),
        )
      )['result'],
    ).toEqual({ content: [{ type: 'text', text: 'deleted r1' }] })
  })

  it('refuses a forbidden call sent as a notification with an HTTP error (it has no answer to carry one)', async () => {
    const response = await post(
      '/mcp/tools',
      { jsonrpc: '2.0', method: 'tools/call', params: { name: 'delete_record', arguments: { id: 'r' } } },
      bob,
    )
    expect(response.status).toBe(403)
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32602 } })
  })

  it('lets report mode forward a refused call and log would_deny', async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const headers = await session('/mcp/report', bob)
    const response = await post('/mcp/report', call('delete_record', { id: 'r2' }), bob, headers)
    expect((await answer(response))['result']).toEqual({ content: [{ type: 'text', text: 'deleted r2' }] })
    // The request's line (an SSE answer is followed by its stream_end line).
    const logged = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['event'] === undefined)
    expect(logged.at(-1)).toMatchObject({
      decision: 'would_deny',
      reason: 'tool_denied',
      rule: null,
      mcp_tool: 'delete_record',
    })
    expect(await toolNames(await post('/mcp/report', LIST, bob, headers))).toHaveLength(5)
  })

  it('counts a rule keyed by tool per tool, and not for requests that call none', async () => {
    const headers = await session('/mcp/limited', bob)
    const statuses: number[] = []
    for (const name of ['echo', 'echo', 'whoami', 'whoami', 'count']) {
      const response = await post('/mcp/limited', call(name, name === 'count' ? { n: 1 } : { text: 'x' }), bob, headers)
      await response.arrayBuffer()
      statuses.push(response.status)
    }
    expect(statuses).toEqual([200, 429, 200, 429, 200])
    const list = await post('/mcp/limited', LIST, bob, headers)
    expect(list.status).toBe(200)
    expect(list.headers.get('ratelimit-policy')).toBeNull()
  })
})

describe('filtered tool lists', () => {
  it('shows each caller only the tools it may call, in an SSE answer', async () => {
    const alices = await post('/mcp/tools', LIST, alice, await session('/mcp/tools', alice))
    expect(alices.headers.get('content-type')).toBe('text/event-stream')
    expect(await toolNames(alices)).toEqual(['echo', 'whoami', 'count', 'delete_record'])
    expect(await toolNames(await post('/mcp/tools', LIST, bob, await session('/mcp/tools', bob)))).toEqual([
      'echo',
      'whoami',
      'count',
    ])
  })

  it('and in a JSON answer (default deny: only what the policy names)', async () => {
    const alices = await post('/mcp/json', LIST, alice, await session('/mcp/json', alice))
    expect(alices.headers.get('content-type')).toBe('application/json')
    expect(alices.headers.get('content-length')).toBeNull()
    expect(await toolNames(alices)).toEqual(['echo', 'whoami', 'delete_record'])
    expect(await toolNames(await post('/mcp/json', LIST, bob, await session('/mcp/json', bob)))).toEqual([
      'echo',
      'whoami',
    ])
  })

  it('rewrites only the list event of a stream cut into small writes, passing the others as written', async () => {
    const response = await post('/mcp/raw/list?n=50&chunk=7', LIST, bob)
    const text = await response.text()
    expect(
      text.startsWith(
        'id: prime\ndata: \n\n: keep-alive\n\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"listing"}}\n\nevent: message\nid: 7\ndata: ',
      ),
    ).toBe(true)
    const names = (
      JSON.parse(text.split('\n').at(-3)?.slice(6) as string) as { result: { tools: { name: string }[] } }
    ).result.tools.map((t) => t.name)
    expect(names).toHaveLength(39)
    expect(names.some((name) => name.startsWith('tool_1'))).toBe(false)
    expect(await toolNames(await post('/mcp/raw/list?n=50&chunk=7', LIST, alice))).toHaveLength(50)
  })

  it('filters a list of 1,000 tools', async () => {
    const names = await toolNames(await post('/mcp/raw/list-json?n=1000', LIST, bob))
    expect(names).toHaveLength(1000 - 111)
  })

  it('never passes a list it cannot filter', async () => {
    const response = await post('/mcp/raw/list-as-text', LIST, bob)
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', id: 5, error: { code: -32603 } })
  })

  it('passes the events of a GET stream as they come (a stream that waits for the client)', async () => {
    const response = await gw.fetch('/mcp/lockstep/sse-lockstep?name=mcp-get', {
      headers: { authorization: `Bearer ${alice.key}`, accept: 'text/event-stream' },
    })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toBe('data: first\n\n')
    await fetch(`${env.TEST_BACKEND_ORIGIN}/_control/signal?name=mcp-get`)
    let rest = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += new TextDecoder().decode(chunk.value)
    expect(rest).toBe('data: second\n\n')
  })
})

describe('transports', () => {
  it('refuses a WebSocket upgrade: its messages would pass the tool lists, the filter and the mcp claim', async () => {
    // The backend behind this pack answers WebSockets (it echoes): the gateway must not relay one.
    const response = await gw.fetch('/mcp/lockstep/ws', {
      headers: { authorization: `Bearer ${alice.key}`, upgrade: 'websocket' },
    })
    expect(response.status).toBe(400)
    expect(response.webSocket ?? null).toBeNull()
    expect(((await response.json()) as { detail: string }).detail).toContain('protocol upgrade')
  })
})

describe('JSON-RPC bodies', () => {
  it('forwards the body byte for byte', async () => {
    const body =
      '{ "jsonrpc" : "2.0",\n  "id":1, "method":"tools/call", "params":{"name":"echo","arguments":{"text":"\\u00e9 \\"x\\""}} }\n'
    const response = await post('/mcp/raw/body', body, alice)
    expect(await response.text()).toBe(body)
    const streamed = await gw.fetch('/mcp/raw/body', {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          const bytes = new TextEncoder().encode(body)
          controller.enqueue(bytes.slice(0, 10))
          controller.enqueue(bytes.slice(10))
          controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    expect(await streamed.text()).toBe(body)
  })

  it.each([
    ['not JSON', '{"jsonrpc":', 400, -32700],
    [
      'two names',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"tool_1"}}',
      400,
      -32700,
    ],
    ['a batch', '[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool_1"}}]', 400, -32600],
    ['a tools/call without a name', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}', 400, -32602],
    ["a body over the pack's limit", JSON.stringify(call('echo', { text: 'x'.repeat(3000) })), 413, -32000],
  ])('refuses %s with a JSON-RPC error', async (_, body, status, code) => {
    const response = await post('/mcp/raw/body', body, bob)
    expect(response.status).toBe(status)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(((await response.json()) as { error: { code: number } }).error.code).toBe(code)
  })

  it('refuses a body over the limit that declares no length, without reading it all', async () => {
    let pulled = 0
    const response = await gw.fetch('/mcp/raw/body', {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.key}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        pull(controller) {
          pulled++
          controller.enqueue(new TextEncoder().encode('{"a":"' + 'x'.repeat(1000)))
          if (pulled === 100) controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    expect(response.status).toBe(413)
    expect(pulled).toBeLessThan(100)
  })
})
