/**
 * CPU per request in the gateway's handler, inside workerd, with the network taken out: `fetch`
 * answers in-process and `console.log` drops the (already serialized) log line, so what runs is
 * routing, authentication, authorization, signing, building the upstream request and the log
 * line — the gateway's own work, on the Worker's runtime.
 *
 * `GET /?case=<name>&n=<iterations>` runs the handler n times; bench/run.ts reads workerd's CPU
 * time before and after (workerd freezes clocks inside a request, so it cannot time itself).
 * The `floor` case runs a pass-through handler in the same loop, so the harness's own cost
 * (building requests and responses) can be told apart; the `lean` and `lean_no_token` cases run
 * the lean reference (bench/workers/lean.ts) in the same loop, the gateway's yardstick.
 */
import { createGateway } from '../../src/app.ts'
import type { Bindings } from '../../src/env.ts'
import { compiledPolicy } from '../out/policy.gen.ts'
import { createLean, type LeanEnv } from './lean.ts'
export { GatewayStoreObject } from '../../src/store/durable-object-class.ts'

interface Env extends Bindings, LeanEnv {
  BENCH_API_KEY: string
  BENCH_BEARER: string
  BENCH_JWKS: string
  BENCH_SIGNED: string
  /** The same gateway's signing keys as one HS256 secret, for the `api_key_hs256` case. */
  BENCH_HS256_KEYS: string
}

const answer = '{"ok":true}'
let jwks = '{"keys":[]}'

/** A tools/list answer of 1,000 tools with a schema each, as an MCP server sends it. */
const TOOL_LIST = JSON.stringify({
  result: {
    tools: Array.from({ length: 1000 }, (_, i) => ({
      name: `tool_${i}`,
      description: `Test tool number ${i}, which does nothing in particular.`,
      inputSchema: {
        type: 'object',
        properties: { text: { type: 'string', description: 'Some text.' }, count: { type: 'integer', minimum: 0 } },
        required: ['text'],
      },
    })),
  },
  jsonrpc: '2.0',
  id: 1,
})
const TOOL_LIST_SSE = `event: message\nid: 1\ndata: ${TOOL_LIST}\n\n`
const MCP_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hello' } },
})
const MCP_LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
  // Touch what a real fetch would read, so the stub does not let work be optimized away.
  const url = input instanceof Request ? input.url : String(input)
  void init?.headers
  // The issuer's JWKS: fetched once, then cached by the gateway like any JWKS.
  if (url.endsWith('/jwks')) return new Response(jwks, { headers: { 'content-type': 'application/json' } })
  if (url.endsWith('/list-sse'))
    return new Response(TOOL_LIST_SSE, { headers: { 'content-type': 'text/event-stream' } })
  if (url.endsWith('/list')) return new Response(TOOL_LIST, { headers: { 'content-type': 'application/json' } })
  return new Response(answer, { headers: { 'content-type': 'application/json' } })
}
console.log = () => undefined

const gateway = createGateway(compiledPolicy)
const lean = createLean()
const leanNoToken = createLean()
const floor = {
  fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    return fetch('http://backend' + url.pathname + url.search, { method: request.method, headers: request.headers })
  },
}

function requestFor(name: string, env: Env): Request {
  switch (name) {
    case 'api_key':
    case 'api_key_hs256':
    case 'lean':
    case 'lean_no_token':
      return new Request('https://gw.bench/keyed/x', { headers: { 'x-api-key': env.BENCH_API_KEY } })
    case 'bearer':
      return new Request('https://gw.bench/bearer/x', { headers: { authorization: `Bearer ${env.BENCH_BEARER}` } })
    case 'signed':
      return new Request('https://gw.bench/signed/x', {
        headers: JSON.parse(env.BENCH_SIGNED) as Record<string, string>,
      })
    case 'anonymous':
      return new Request('https://gw.bench/open/x', { headers: { 'cf-connecting-ip': '192.0.2.10' } })
    case 'concurrency':
      // One concurrency rule, its slot taken over from the last request (Durable Object store, in this process).
      return new Request('https://gw.bench/concurrent/x', { headers: { 'x-api-key': env.BENCH_API_KEY } })
    case 'rate_limited':
      // One rule, admitted from leases of the Durable Object store (in this process, so its CPU counts).
      return new Request('https://gw.bench/limited/x', { headers: { 'x-api-key': env.BENCH_API_KEY } })
    case 'post_plain':
      return mcpRequest('/keyed', MCP_CALL, env)
    case 'mcp_call':
    case 'mcp_call_plain':
      return mcpRequest(name === 'mcp_call' ? '/mcp' : '/mcpplain', MCP_CALL, env)
    case 'mcp_list':
    case 'mcp_list_plain':
      return mcpRequest(name === 'mcp_list' ? '/mcp/list' : '/mcpplain/list', MCP_LIST, env)
    case 'mcp_list_sse':
    case 'mcp_list_sse_plain':
      return mcpRequest(name === 'mcp_list_sse' ? '/mcp/list-sse' : '/mcpplain/list-sse', MCP_LIST, env)
    default: // refused (no key) and floor
      return new Request('https://gw.bench/keyed/x')
  }
}

function mcpRequest(path: string, body: string, env: Env): Request {
  return new Request(`https://gw.bench${path}`, {
    method: 'POST',
    headers: {
      'x-api-key': env.BENCH_API_KEY,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'content-length': String(body.length),
    },
    body,
  })
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    jwks = env.BENCH_JWKS
    const params = new URL(request.url).searchParams
    const name = params.get('case') ?? 'api_key'
    const iterations = Number(params.get('n') ?? 1000)
    const handler: { fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> } =
      name === 'floor' ? floor : name === 'lean' ? lean : name === 'lean_no_token' ? leanNoToken : gateway
    const expected = name === 'refused' ? 401 : 200
    const handlerEnv =
      name === 'api_key_hs256'
        ? { ...env, INVOKER_SIGNING_KEYS: env.BENCH_HS256_KEYS }
        : name === 'lean_no_token'
          ? { ...env, LEAN_SIGN: 'off' }
          : env
    for (let i = 0; i < iterations; i++) {
      // A request that ends parks its slot with a timer (CONCURRENCY_SLOT_PARK_MS); here every
      // iteration runs in one request, where the clock only moves at I/O and a request may hold
      // 10,000 timers: let them fire now and then (idle time, not CPU time).
      if (name === 'concurrency' && i % 1000 === 999) await new Promise((resolve) => setTimeout(resolve, 150))
      const response = await handler.fetch(requestFor(name, env), handlerEnv, ctx)
      await response.arrayBuffer()
      if (response.status !== expected) return new Response(`case ${name}: status ${response.status}`, { status: 500 })
    }
    return new Response('ok')
  },
}
