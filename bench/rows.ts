/**
 * The bench's rows: one entry per configuration measured under load and at rest. To add a row,
 * add an entry here (with the pack it needs, if no row has it yet); the tables, the ratios and
 * `BENCH_ONLY` pick it up. Rows of later issues go at the end of their section, marked by the
 * comment there.
 *
 * `bare` and `lean` are the references every other row is a ratio to; the bench always measures
 * them, whatever `BENCH_ONLY` says.
 */

/** The Workers the bench serves (bench/run.ts gives each its bundle and bindings). */
export type WorkerName =
  | 'bare'
  | 'lean'
  | 'lean-no-token'
  | 'hono-jwt'
  | 'gateway'
  | 'gateway-hs256'
  | 'gateway-upstash'

/** What a row's request may be built from. */
export interface RowContext {
  /** The bench API key (policy name `bench`), valid on every pack that accepts API keys. */
  apiKey: string
  /** An EdDSA access token from the bench identity provider (JWKS served by the backend). */
  bearer: string
  /** RFC 9421 headers signing `GET /signed/x` for the given authority with the `bench-agent` key. */
  signedHeaders(authority: string): Promise<Record<string, string>>
  /** `127.0.0.1:<port>` of a worker. */
  authority(worker: WorkerName): string
}

export interface Row {
  /** The name `BENCH_ONLY` selects it by. */
  id: string
  /** Its label in the tables. */
  name: string
  worker: WorkerName
  path: string
  headers(c: RowContext): Record<string, string> | Promise<Record<string, string>>
  /** A request body: the row's request is a POST of it (else a GET). */
  body?: string
  /** The pack the row's path needs, as policy YAML (`backend` is the bench backend's origin). */
  pack?(backend: string): string
  /** What the row is, one sentence for RESULTS.md. */
  means: string
  /** A row with one rule kept in a store: its store calls are counted during the load windows. */
  store?: 'durable-object' | 'upstash'
  /**
   * What that rule is: a rate limit (issue 13's lease table and bursts; the default) or a
   * concurrency rule (issue 15's table, its slot calls counted instead).
   */
  rule?: 'rate-limit' | 'concurrency'
}

export const BARE = 'bare'
export const LEAN = 'lean'
export const API_KEY = 'gateway-api-key'

const apiKey = (c: RowContext): Record<string, string> => ({ 'x-api-key': c.apiKey })

/** The MCP rows' row id; the handler loop's MCP cases run when it is selected. */
export const MCP = 'gateway-mcp'

/**
 * The bench's tool policy: a default, globs, an allow list on the called tool, and an entry that
 * hides tool_1… (111 of the 1,000 tools bench/workers/cpu.ts lists) from the bench's key, so the
 * list is rewritten.
 */
const MCP_TOOL_POLICY = `mcp:
  tools:
    default: deny
    names:
      "tool_1*": { allow: [{ meta.role: admin }] }
      "tool_*": {}
      echo: { allow: [{ api_key: bench }] }
      "delete_*": { deny: [{ kind: anonymous }] }
`

/** The tools/call the MCP rows send (the handler loop sends the same one). */
const MCP_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hello' } },
})

const mcpHeaders = (c: RowContext): Record<string, string> => ({
  'x-api-key': c.apiKey,
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
})

export const ROWS: Row[] = [
  // References.
  {
    id: BARE,
    name: 'bare pass-through',
    worker: 'bare',
    path: '/keyed/x',
    headers: () => ({}),
    means:
      'a Worker that only forwards the request to the backend: the floor of this architecture (HTTP in and out of workerd twice).',
  },
  {
    id: LEAN,
    name: 'lean reference (hand-written, per-request Ed25519)',
    worker: 'lean',
    path: '/keyed/x',
    headers: apiKey,
    means:
      "bench/workers/lean.ts: route by prefix, look up and hash the API key, constant-time compare, request id, an Ed25519 X-Invoker with the gateway's claims signed on crypto.subtle (protected header encoded once), header rewrite, forward, echo the request id, one log line; no framework, no jose.",
  },
  {
    id: 'lean-no-token',
    name: 'no-token lower bound (lean, no X-Invoker)',
    worker: 'lean-no-token',
    path: '/keyed/x',
    headers: apiKey,
    means:
      'the same lean Worker without the claims and the signature: what a gateway costs that authenticates and forwards but signs nothing.',
  },
  {
    id: 'hono-jwt',
    name: 'hono-jwt (bearer, jwk + proxy)',
    worker: 'hono-jwt',
    path: '/keyed/x',
    headers: (c) => ({ authorization: `Bearer ${c.bearer}` }),
    means:
      'what a user would write by hand with Hono: its `jwk` middleware (keys inline) in front of its `proxy()` helper; checks a token, signs nothing.',
  },

  // The gateway.
  {
    id: API_KEY,
    name: 'gateway: API key',
    worker: 'gateway',
    path: '/keyed/x',
    headers: apiKey,
    pack: (backend) => `pack: keyed\nupstream: ${backend}\nmatch: { path_prefix: /keyed }\nauth: [api_key]\n`,
    means:
      'the gateway (bench/workers/gateway.ts, the real createGateway) with a policy API key; X-Invoker signed with Ed25519.',
  },
  {
    id: 'gateway-hs256',
    name: 'gateway: API key, X-Invoker signed with HS256',
    worker: 'gateway-hs256',
    path: '/keyed/x',
    headers: apiKey,
    means:
      'the same gateway and route with an HS256 signing key (a secret shared with the backend; SPEC §6 allows it): its distance from the API-key row is what Ed25519 costs against an HMAC.',
  },
  {
    id: 'gateway-bearer',
    name: 'gateway: bearer JWT (JWKS cached)',
    worker: 'gateway',
    path: '/bearer/x',
    headers: (c) => ({ authorization: `Bearer ${c.bearer}` }),
    pack: (backend) => `pack: bearer\nupstream: ${backend}\nmatch: { path_prefix: /bearer }\nauth: [bearer]\n`,
    means: 'an EdDSA access token checked against a JWKS the gateway fetched once from the backend and keeps cached.',
  },
  {
    id: 'gateway-anonymous',
    name: 'gateway: anonymous',
    worker: 'gateway',
    path: '/open/x',
    headers: () => ({ 'cf-connecting-ip': '192.0.2.10' }),
    pack: (backend) =>
      `pack: open\nupstream: ${backend}\nmatch: { path_prefix: /open }\nauth: [api_key]\nanonymous: allow\n`,
    means: 'no credential on a pack with `anonymous: allow`: the invoker is an HMAC of the client address.',
  },
  {
    id: 'gateway-signed',
    name: 'gateway: signed request (ed25519, RFC 9421)',
    worker: 'gateway',
    path: '/signed/x',
    headers: (c) => c.signedHeaders(c.authority('gateway')),
    pack: (backend) => `pack: signed\nupstream: ${backend}\nmatch: { path_prefix: /signed }\nauth: [envelope]\n`,
    means:
      'an ed25519 RFC 9421 signature over @method, @authority, @path, verified per request; the load generator repeats one request, so the bench policy makes the nonce optional and the nonce cache (one store round trip) is not in these numbers.',
  },
  {
    id: 'gateway-rate-limit-do',
    name: 'gateway: API key + 1 rate limit (Durable Object)',
    worker: 'gateway',
    path: '/limited/x',
    headers: apiKey,
    // One rule that never refuses: the cost of counting, not of refusing.
    pack: (backend) =>
      `pack: limited\nupstream: ${backend}\nmatch: { path_prefix: /limited }\nauth: [api_key]\nrate_limits:\n  - { id: per-invoker, by: invoker, limit: 1000000000, window: 1m, on_error: deny }\n`,
    store: 'durable-object',
    means:
      'the API-key route with one rule (by invoker, never refusing, `on_error: deny` so a failing store shows as errors); leases from the Durable Object store, its objects on disk.',
  },
  {
    id: 'gateway-rate-limit-upstash',
    name: 'gateway: API key + 1 rate limit (Upstash)',
    worker: 'gateway-upstash',
    path: '/limited/x',
    headers: apiKey,
    store: 'upstash',
    means:
      "the same rule with the real @upstash/redis client and the gateway's lease script against a local redis-server behind the test suite's REST adapter (on the load generator's core).",
  },
  // Issue 15: one concurrency rule that never refuses (the cost of taking and giving back a slot).
  {
    id: 'gateway-concurrency-do',
    name: 'gateway: API key + 1 concurrency rule (Durable Object)',
    worker: 'gateway',
    path: '/concurrent/x',
    headers: apiKey,
    pack: (backend) =>
      `pack: concurrent\nupstream: ${backend}\nmatch: { path_prefix: /concurrent }\nauth: [api_key]\nconcurrency:\n  - { id: open, by: invoker, limit: 10000, on_error: deny }\n`,
    store: 'durable-object',
    rule: 'concurrency',
    means:
      'the API-key route with one concurrency rule (by invoker, limit 10,000, never refusing, `on_error: deny`): a slot taken before forwarding and given back when the answer has been sent (the body passes through the gateway chunk by chunk to know when); slots in the Durable Object store, its objects on disk.',
  },
  {
    id: 'gateway-concurrency-upstash',
    name: 'gateway: API key + 1 concurrency rule (Upstash)',
    worker: 'gateway-upstash',
    path: '/concurrent/x',
    headers: apiKey,
    store: 'upstash',
    rule: 'concurrency',
    means:
      "the same rule with its slots in Upstash (the real @upstash/redis client against a local redis-server behind the test suite's REST adapter).",
  },
  // Rows of later issues go here.

  // MCP (issue 14): the same tools/call on an MCP pack with a tool policy and on the same pack
  // without `tools`. The handler loop (bench/run.ts, CPU_CASES) adds tools/list of 1,000 tools.
  {
    id: MCP,
    name: 'gateway: MCP tools/call, tool policy',
    worker: 'gateway',
    path: '/mcp',
    headers: mcpHeaders,
    body: MCP_CALL,
    pack: (backend) =>
      `pack: mcp\nupstream: ${backend}\nmatch: { path_prefix: /mcp }\nprotocol: mcp\nauth: [api_key, bearer]\n${MCP_TOOL_POLICY}`,
    means:
      "a POST of a JSON-RPC tools/call (API key) to an MCP pack with a tool policy (a default, globs, an allow list on the called tool): the gateway reads the body on every MCP pack (method, tool, the `mcp` claim) and decides the tool; the backend's answer is passed on as it comes. A POST with a body, so compare it with the next row, not with the GET rows.",
  },
  {
    id: 'gateway-mcp-plain',
    name: 'gateway: MCP tools/call, pack without tools',
    worker: 'gateway',
    path: '/mcpplain',
    headers: mcpHeaders,
    body: MCP_CALL,
    pack: (backend) =>
      `pack: mcpplain\nupstream: ${backend}\nmatch: { path_prefix: /mcpplain }\nprotocol: mcp\nauth: [api_key, bearer]\n`,
    means:
      'the same request on the same kind of MCP pack without `tools`: its distance from the row above is what the tool policy costs.',
  },
]

/**
 * Packs no row names but the bench needs: the burst section's pack (a fresh anonymous invoker per
 * client address, one rule).
 */
export const EXTRA_PACKS: ((backend: string) => string)[] = [
  (backend) =>
    `pack: burst\nupstream: ${backend}\nmatch: { path_prefix: /burst }\nauth: [api_key]\nanonymous: allow\nrate_limits:\n  - { id: per-invoker, by: invoker, limit: 1000000000, window: 1m, on_error: deny }\n`,
]

/**
 * The rows `BENCH_ONLY` (comma-separated ids) selects, the references always included, and the
 * API-key row with any store row (the lease and concurrency tables compare with the same route
 * without the rule).
 */
export function selectRows(only: string | undefined): Row[] {
  if (!only) return ROWS
  const wanted = new Set(
    only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  const unknown = [...wanted].filter((id) => !ROWS.some((r) => r.id === id))
  if (unknown.length > 0)
    throw new Error(`BENCH_ONLY: no row ${unknown.join(', ')}; rows: ${ROWS.map((r) => r.id).join(', ')}`)
  if (ROWS.some((r) => r.store && wanted.has(r.id))) wanted.add(API_KEY)
  return ROWS.filter((r) => r.id === BARE || r.id === LEAN || wanted.has(r.id))
}
