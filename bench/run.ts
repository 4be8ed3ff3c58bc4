/**
 * `npm run bench`: the gateway's cost against a bare pass-through Worker and a hand-written Hono
 * proxy, side by side on one workerd, one backend, one load generator. Reports; never fails on
 * noise. Writes bench/RESULTS.md.
 *
 * Workers are bundled as `wrangler deploy --dry-run` bundles them and served by `workerd serve`
 * with a generated config (not `wrangler dev`, whose dev proxy costs ~8x and would hide the
 * gateway's own cost). Configurations are interleaved over several rounds so that drift in the
 * machine's speed hits all of them alike; every figure is also given as a ratio to the bare
 * Worker of the same round.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { Agent, request as httpRequest } from 'node:http'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { cpus, totalmem, type as osType, release } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import autocannon from 'autocannon'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { renderModule } from '../src/cli/build-policies.ts'
import { generateApiKey, sha256Hex } from '../src/keys/api-key-format.ts'
import { serializeDictionary, type InnerList, type Item } from 'structured-headers'
import { signatureBase } from '../src/pipeline/authenticate/envelope/signature-base.ts'
import { compilePolicies, formatError } from '../src/policy/compiler/compile.ts'
import { freePort } from '../test/support/ports.ts'
import { startUpstashRestAdapter } from '../test/support/upstash-rest.ts'

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5)
const BURSTS = 5
const BURST_SIZE = 200
const LATENCY_REQUESTS = Number(process.env['BENCH_LATENCY_REQUESTS'] ?? 1000)
const MINIMAL_SIGNER = 'reference: minimal signing proxy (hash key, sign, forward)'
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4)
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16)
const COMPATIBILITY_DATE = '2026-11-01'
const OUT = resolve('bench/out')
/**
 * `BENCH_ONLY=concurrency,rate limit` measures only the rows whose names contain one of these
 * (plus the bare Worker and the API-key row, which the ratios need; in the CPU loop, the floor
 * and the API-key case), and writes bench/out/RESULTS-only.md instead of bench/RESULTS.md.
 */
const ONLY = (process.env['BENCH_ONLY'] ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const run = promisify(execFile)

interface Config {
  name: string
  worker: 'bare' | 'hono-jwt' | 'minimal-signer' | 'gateway' | 'gateway-hs256' | 'gateway-upstash'
  path: string
  headers: Record<string, string>
}

interface CpuResult {
  name: string
  microseconds: number
}

interface Sample {
  rps: number
  /** Requests served in the run. */
  requests: number
  /** workerd's CPU time per request during the run (all workers share the process). */
  workerdCpu: number
  p50: number
  p99: number
}

function startBackend(jwks: string): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(process.execPath, ['bench/backend.ts'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_JWKS: jwks } })
  return new Promise((resolvePort) => {
    child.stdout?.once('data', (d: Buffer) => resolvePort({ child, origin: `http://127.0.0.1:${d.toString().trim()}` }))
  })
}

function benchPolicies(backend: string, keyId: string, sha256: string, signerJwk: JsonWebKey): void {
  const result = compilePolicies({
    policies: [
      {
        path: 'bench/_gateway.yaml',
        text: `issuer: https://gateway.bench\napi_keys:\n  bench:\n    key_id: "${keyId}"\n    sha256: "${sha256}"\nissuers:\n  bench-idp:\n    issuer: ${BENCH_IDP}\n    jwks_uri: ${backend}/jwks\n    audience: ${BENCH_AUDIENCE}\n    algorithms: [EdDSA]\n` +
          // The load generator repeats one signed request, so the nonce is optional here (SPEC's default is required).
          `signers:\n  bench-agent:\n    keyid: bench-agent\n    algorithm: ed25519\n    jwk: ${JSON.stringify({ kty: signerJwk.kty, crv: signerJwk.crv, x: signerJwk.x })}\nenvelope: { nonce: optional, max_age: 1h }\n`,
      },
      { path: 'bench/signed.yaml', text: `pack: signed\nupstream: ${backend}\nmatch: { path_prefix: /signed }\nauth: [envelope]\n` },
      { path: 'bench/bearer.yaml', text: `pack: bearer\nupstream: ${backend}\nmatch: { path_prefix: /bearer }\nauth: [bearer]\n` },
      { path: 'bench/keyed.yaml', text: `pack: keyed\nupstream: ${backend}\nmatch: { path_prefix: /keyed }\nauth: [api_key]\n` },
      { path: 'bench/open.yaml', text: `pack: open\nupstream: ${backend}\nmatch: { path_prefix: /open }\nauth: [api_key]\nanonymous: allow\n` },
      // MCP packs: one with a tool policy (globs, an allow list, a default), the same without `tools`.
      { path: 'bench/mcp.yaml', text: `pack: mcp\nupstream: ${backend}\nmatch: { path_prefix: /mcp }\nprotocol: mcp\nauth: [api_key, bearer]\n${MCP_TOOL_POLICY}` },
      { path: 'bench/mcpplain.yaml', text: `pack: mcpplain\nupstream: ${backend}\nmatch: { path_prefix: /mcpplain }\nprotocol: mcp\nauth: [api_key, bearer]\n` },
      // One rule that never refuses: the cost of counting, not of refusing.
      { path: 'bench/limited.yaml', text: `pack: limited\nupstream: ${backend}\nmatch: { path_prefix: /limited }\nauth: [api_key]\nrate_limits:\n  - { id: per-invoker, by: invoker, limit: 1000000000, window: 1m, on_error: deny }\n` },
      // One concurrency rule that never refuses (issue 15): the cost of taking and giving back a slot.
      { path: 'bench/concurrent.yaml', text: `pack: concurrent\nupstream: ${backend}\nmatch: { path_prefix: /concurrent }\nauth: [api_key]\nconcurrency:\n  - { id: open, by: invoker, limit: 10000, on_error: deny }\n` },
      // Bursts of one fresh invoker each (an anonymous caller per client address).
      { path: 'bench/burst.yaml', text: `pack: burst\nupstream: ${backend}\nmatch: { path_prefix: /burst }\nauth: [api_key]\nanonymous: allow\nrate_limits:\n  - { id: per-invoker, by: invoker, limit: 1000000000, window: 1m, on_error: deny }\n` },
    ],
  })
  if (!result.ok) throw new Error(result.errors.map(formatError).join('\n'))
  writeFileSync(join(OUT, 'policy.gen.ts'), renderModule(result.policy).replace("from './types.ts'", "from '../../src/policy/types.ts'"))
}

const BENCH_IDP = 'https://idp.bench'

/**
 * The bench's tool policy: a default, globs, an allow list on the called tool, and an entry that
 * hides tool_1… (111 of the 1,000 listed tools) from the bench's key, so the list is rewritten.
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
const BENCH_AUDIENCE = 'https://agents.bench'

async function bundle(name: string, entry: string): Promise<{ dir: string; raw: number; gzipped: number }> {
  const dir = join(OUT, name)
  mkdirSync(dir, { recursive: true })
  const config = join(dir, 'wrangler.toml')
  writeFileSync(config, `name = "bench-${name}"\nmain = "${resolve(entry)}"\ncompatibility_date = "${COMPATIBILITY_DATE}"\n`)
  await run('wrangler', ['deploy', '--dry-run', '--outdir', join(dir, 'dist'), '--config', config], {
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  })
  // wrangler names the output after the entry file.
  const output = readdirSync(join(dir, 'dist')).find((f) => f.endsWith('.js'))
  if (!output) throw new Error(`wrangler produced no bundle for ${name}`)
  const code = readFileSync(join(dir, 'dist', output))
  writeFileSync(join(dir, 'dist', 'index.js'), code)
  return { dir, raw: code.length, gzipped: gzipSync(code).length }
}

interface WorkerSpec {
  name: string
  /** Which bundle under bench/out/ it runs (several workers may share one). */
  bundle?: string
  port: number
  bindings: Record<string, string>
  /** Gives the worker the Durable Object store as GATEWAY_STORE (in memory). */
  store?: boolean
}

function capnp(workers: WorkerSpec[]): string {
  const services = workers
    .map((w) => `    (name = "${w.name}", worker = .${camel(w.name)}),` + (w.store ? `\n    (name = "${w.name}-storage", disk = (path = "${join(OUT, `${w.name}-storage`)}", writable = true)),` : ''))
    .join('\n')
  const sockets = workers.map((w) => `    (name = "${w.name}", address = "127.0.0.1:${w.port}", http = (), service = "${w.name}"),`).join('\n')
  const definitions = workers
    .map((w) => {
      const bindings = Object.entries(w.bindings)
        .map(([name, value]) => `    (name = "${name}", text = ${JSON.stringify(value)}),`)
        .join('\n')
      // On disk: workerd's in-memory storage has no SQLite, so `ctx.storage.kv` would fail and
      // every rate-limit call would end in on_error (the rows before issue 13 measured that).
      const store = w.store
        ? `
  durableObjectNamespaces = [ (className = "GatewayStoreObject", uniqueKey = "bench-${w.name}-store", enableSql = true) ],
  durableObjectStorage = (localDisk = "${w.name}-storage"),`
        : ''
      const storeBinding = w.store ? '\n    (name = "GATEWAY_STORE", durableObjectNamespace = "GatewayStoreObject"),' : ''
      return `const ${camel(w.name)} :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "${w.bundle ?? w.name}/dist/index.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  compatibilityFlags = ["enable_request_signal"],
  bindings = [
${bindings}${storeBinding}
  ],${store}
  globalOutbound = "loopback",
);`
    })
    .join('\n\n')
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
${services}
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [
${sockets}
  ],
);

${definitions}
`
}

function camel(name: string): string {
  return name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) + 'Worker'
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((r) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), r(true)))
      socket.on('error', () => r(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`workerd did not open port ${port}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function load(url: string, headers: Record<string, string>, workerdPid: number): Promise<Sample> {
  const cpuBefore = processCpuMicros(workerdPid)
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: SECONDS, pipelining: 1 })
  const workerdCpu = (processCpuMicros(workerdPid) - cpuBefore) / result.requests.total
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  return { rps: result.requests.average, requests: result.requests.total, workerdCpu, p50: result.latency.p50, p99: result.latency.p99 }
}

function control(adapter: { url: string; token: string }, action: string): Promise<Response> {
  return fetch(`${adapter.url}/__control/${action}`, { method: 'POST', headers: { authorization: `Bearer ${adapter.token}` } })
}

/** `n` requests at once (one connection each), all 200 or it throws. */
async function burst(url: string, headers: Record<string, string>, n: number): Promise<void> {
  const agent = new Agent({ keepAlive: false, maxSockets: n })
  const target = new URL(url)
  try {
    const statuses = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<number>((resolve, reject) => {
            const outgoing = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, headers, agent }, (response) => {
              response.resume()
              response.on('end', () => resolve(response.statusCode ?? 0))
            })
            outgoing.on('error', reject)
            outgoing.end()
          }),
      ),
    )
    const failed = statuses.filter((s) => s !== 200)
    if (failed.length > 0) throw new Error(`${url}: ${failed.length} of ${n} not 200 (${[...new Set(failed)].join(', ')})`)
  } finally {
    agent.destroy()
  }
}

interface Latency {
  p50: number
  p90: number
  p99: number
}

/**
 * Latency with nothing queued: one keep-alive connection, one request at a time, timed in
 * microseconds. Under the fixed-concurrency load, workerd is saturated and a request's latency
 * is mostly its wait behind the others (it follows throughput); here it is the request's own way
 * through the Worker and back.
 */
async function latencyAtRest(url: string, headers: Record<string, string>, count: number): Promise<Latency> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const target = new URL(url)
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const outgoing = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, headers, agent }, (response) => {
        response.resume()
        response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`${url}: status ${response.statusCode}`))))
      })
      outgoing.on('error', reject)
      outgoing.end()
    })
  try {
    for (let i = 0; i < 50; i++) await once()
    const micros: number[] = []
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      await once()
      micros.push((performance.now() - started) * 1000)
    }
    micros.sort((a, b) => a - b)
    const at = (q: number): number => micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] as number
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) }
  } finally {
    agent.destroy()
  }
}

/** workerd's CPU time (all threads, user + system) in microseconds, from /proc. */
function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND
}
const CLOCK_TICKS_PER_SECOND = 100

async function measureCpu(pid: number, port: number): Promise<CpuResult[]> {
  const cases = [
    { name: 'floor (pass-through handler, same loop)', key: 'floor' },
    { name: 'gateway: API key', key: 'api_key' },
    { name: 'gateway: API key, X-Invoker signed with HS256', key: 'api_key_hs256' },
    { name: 'gateway: bearer JWT (JWKS cached)', key: 'bearer' },
    { name: 'gateway: signed request (ed25519, RFC 9421)', key: 'signed' },
    { name: 'gateway: anonymous', key: 'anonymous' },
    { name: 'gateway: refused (no key, 401)', key: 'refused' },
    { name: 'gateway: API key + 1 rate limit (leases, Durable Object)', key: 'rate_limited' },
    { name: 'gateway: API key, POST of the same JSON-RPC body to a plain pack', key: 'post_plain' },
    { name: 'gateway: MCP tools/call, pack without tools', key: 'mcp_call_plain' },
    { name: 'gateway: MCP tools/call, tool policy', key: 'mcp_call' },
    { name: 'gateway: MCP tools/list of 1,000 tools (JSON), pack without tools', key: 'mcp_list_plain' },
    { name: 'gateway: MCP tools/list of 1,000 tools (JSON), filtered', key: 'mcp_list' },
    { name: 'gateway: MCP tools/list of 1,000 tools (SSE), pack without tools', key: 'mcp_list_sse_plain' },
    { name: 'gateway: MCP tools/list of 1,000 tools (SSE), filtered', key: 'mcp_list_sse' },
    { name: 'gateway: API key + 1 concurrency rule (Durable Object)', key: 'concurrency' },
  ].filter((c) => ONLY.length === 0 || c.key === 'floor' || c.key === 'api_key' || ONLY.some((only) => c.name.includes(only)))
  const call = async (key: string, n: number): Promise<void> => {
    const response = await fetch(`http://127.0.0.1:${port}/?case=${key}&n=${n}`)
    if (response.status !== 200) throw new Error(await response.text())
  }
  for (const c of cases) await call(c.key, 500)
  // Cases interleaved over the runs, so that drift in the machine's speed hits them alike.
  const runs = new Map<string, number[]>()
  for (let run = 0; run < 3; run++) {
    for (const c of cases) {
      const before = processCpuMicros(pid)
      await call(c.key, CPU_ITERATIONS)
      runs.set(c.key, [...(runs.get(c.key) ?? []), (processCpuMicros(pid) - before) / CPU_ITERATIONS])
    }
  }
  return cases.map((c) => ({ name: c.name, microseconds: median(runs.get(c.key) ?? []) }))
}
const CPU_ITERATIONS = Number(process.env['BENCH_CPU_ITERATIONS'] ?? 10_000)

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
const fmt = (n: number, digits = 0): string => n.toFixed(digits)
const pct = (n: number): string => `${(n * 100).toFixed(0)}%`

/**
 * Measures every configuration once per round, the order reversed every other round, so that
 * drift in the machine's speed hits all of them alike. Each run is paired with the bare Worker's
 * run of the same round, which the ratios are taken against.
 */
async function interleaved<T>(configs: Config[], label: string, measure: (c: Config) => Promise<T>): Promise<Map<string, { value: T; bare: T }[]>> {
  const byRound: Map<string, T>[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const results = new Map<string, T>()
    for (const c of round % 2 === 0 ? configs : [...configs].reverse()) {
      console.error(`${label} ${round + 1}/${ROUNDS}: ${c.name}`)
      results.set(c.name, await measure(c))
    }
    byRound.push(results)
  }
  const bareName = configs.find((c) => c.worker === 'bare')?.name as string
  return new Map(configs.map((c) => [c.name, byRound.map((results) => ({ value: results.get(c.name) as T, bare: results.get(bareName) as T }))]))
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true })
  const startedAt = new Date()
  const idp = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const idpJwks = JSON.stringify({ keys: [{ ...(await exportJWK(idp.publicKey)), alg: 'EdDSA', kid: 'idp' }] })
  // One token for both the hand-written proxy and the gateway (which also checks iss and aud).
  const bearer = await new SignJWT({ sub: 'bench-user' })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'idp' })
    .setIssuer(BENCH_IDP)
    .setAudience(BENCH_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(idp.privateKey)
  const backend = await startBackend(idpJwks)

  const { key, keyId } = generateApiKey()
  const agent = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  benchPolicies(backend.origin, keyId, await sha256Hex(key), (await crypto.subtle.exportKey('jwk', agent.publicKey)) as JsonWebKey)
  const signedHeaders = async (host: string): Promise<Record<string, string>> => {
    const input: InnerList = [['@method', '@authority', '@path'].map((c): Item => [c, new Map()]), new Map<string, string | number>([['created', Math.floor(Date.now() / 1000)], ['keyid', 'bench-agent']])]
    const base = signatureBase({ method: 'GET', url: new URL(`http://${host}/signed/x`), headers: new Headers() }, input)
    const signature = await crypto.subtle.sign('Ed25519', agent.privateKey, new TextEncoder().encode(base))
    return { 'signature-input': serializeDictionary(new Map([['sig1', input]])), signature: serializeDictionary(new Map([['sig1', [signature, new Map()]]])) }
  }
  const signer = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const signingKeys = JSON.stringify({ keys: [{ ...(await exportJWK(signer.privateKey)), alg: 'EdDSA', kid: 'bench' }] })
  // The same gateway signing X-Invoker with a secret shared with the backend instead (SPEC §6 allows HS256).
  const hmacSigningKeys = JSON.stringify({ keys: [{ kty: 'oct', k: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'), alg: 'HS256', kid: 'bench-hs' }] })

  console.error('bundling workers…')
  const [bare, honoJwt, gateway] = await Promise.all([
    bundle('bare', 'bench/workers/bare.ts'),
    bundle('hono-jwt', 'bench/workers/hono-jwt.ts'),
    bundle('gateway', 'bench/workers/gateway.ts'),
    bundle('minimal-signer', 'bench/workers/minimal-signer.ts'),
    bundle('cpu', 'bench/workers/cpu.ts'),
  ])
  const ports = { bare: await freePort(), 'hono-jwt': await freePort(), 'minimal-signer': await freePort(), gateway: await freePort(), 'gateway-hs256': await freePort(), 'gateway-upstash': await freePort(), cpu: await freePort() }
  // Upstash as the store: a real redis-server behind the test suite's Upstash REST adapter, when
  // redis-server is installed (CI installs it; a bare machine skips that row).
  const upstash = await startUpstashRestAdapter().catch((error: unknown) => {
    console.error(`no Upstash row: ${error instanceof Error ? error.message : String(error)}`)
    return null
  })
  for (const dir of ['gateway-storage', 'cpu-storage']) {
    rmSync(join(OUT, dir), { recursive: true, force: true })
    mkdirSync(join(OUT, dir))
  }
  writeFileSync(
    join(OUT, 'workerd.capnp'),
    capnp([
      { name: 'bare', port: ports.bare, bindings: { BACKEND: backend.origin } },
      { name: 'hono-jwt', port: ports['hono-jwt'], bindings: { BACKEND: backend.origin, JWKS: idpJwks } },
      { name: 'minimal-signer', port: ports['minimal-signer'], bindings: { BACKEND: backend.origin } },
      { name: 'gateway', port: ports.gateway, bindings: { INVOKER_SIGNING_KEYS: signingKeys }, store: true },
      { name: 'gateway-hs256', bundle: 'gateway', port: ports['gateway-hs256'], bindings: { INVOKER_SIGNING_KEYS: hmacSigningKeys } },
      {
        name: 'gateway-upstash',
        bundle: 'gateway',
        port: ports['gateway-upstash'],
        bindings: { INVOKER_SIGNING_KEYS: signingKeys, UPSTASH_REDIS_REST_URL: upstash?.url ?? '', UPSTASH_REDIS_REST_TOKEN: upstash?.token ?? '' },
      },
      { name: 'cpu', port: ports.cpu, store: true, bindings: { INVOKER_SIGNING_KEYS: signingKeys, BENCH_API_KEY: key, BENCH_BEARER: bearer, BENCH_JWKS: idpJwks, BENCH_SIGNED: JSON.stringify(await signedHeaders('gw.bench')), BENCH_HS256_KEYS: hmacSigningKeys } },
    ]),
  )

  // The binary itself: node_modules/.bin/workerd is a Node script that starts it as a child, so
  // its pid's CPU time is not workerd's, and stopping it would leave workerd running.
  const workerdBin = (createRequire(import.meta.url)('workerd') as { default: string }).default
  const launched = Date.now()
  const workerd = spawn(workerdBin, ['serve', join(OUT, 'workerd.capnp')], { stdio: ['ignore', 'ignore', 'inherit'] })
  const stopAll = (): void => {
    workerd.kill('SIGTERM')
    backend.child.kill('SIGTERM')
    void upstash?.close()
  }
  process.on('exit', stopAll)
  try {
    await waitForPort(ports.gateway, Date.now() + 30_000)
    const listening = Date.now() - launched

    const all: Config[] = [
      { name: 'bare', worker: 'bare', path: '/keyed/x', headers: {} },
      { name: 'hono-jwt (bearer, jwk + proxy)', worker: 'hono-jwt', path: '/keyed/x', headers: { authorization: `Bearer ${bearer}` } },
      { name: MINIMAL_SIGNER, worker: 'minimal-signer', path: '/keyed/x', headers: { 'x-api-key': key } },
      { name: 'gateway: API key', worker: 'gateway', path: '/keyed/x', headers: { 'x-api-key': key } },
      { name: 'gateway: API key, X-Invoker signed with HS256', worker: 'gateway-hs256', path: '/keyed/x', headers: { 'x-api-key': key } },
      { name: 'gateway: bearer JWT (JWKS cached)', worker: 'gateway', path: '/bearer/x', headers: { authorization: `Bearer ${bearer}` } },
      { name: 'gateway: signed request (ed25519, RFC 9421)', worker: 'gateway', path: '/signed/x', headers: await signedHeaders(`127.0.0.1:${ports.gateway}`) },
      { name: 'gateway: anonymous', worker: 'gateway', path: '/open/x', headers: { 'cf-connecting-ip': '192.0.2.10' } },
      { name: 'gateway: API key + 1 rate limit (Durable Object)', worker: 'gateway', path: '/limited/x', headers: { 'x-api-key': key } },
      ...(upstash ? [{ name: 'gateway: API key + 1 rate limit (Upstash)', worker: 'gateway-upstash', path: '/limited/x', headers: { 'x-api-key': key } } as Config] : []),
      { name: 'gateway: API key + 1 concurrency rule (Durable Object)', worker: 'gateway', path: '/concurrent/x', headers: { 'x-api-key': key } },
      ...(upstash ? [{ name: 'gateway: API key + 1 concurrency rule (Upstash)', worker: 'gateway-upstash', path: '/concurrent/x', headers: { 'x-api-key': key } } as Config] : []),
    ]
    const configs = all.filter((c) => ONLY.length === 0 || c.name === 'bare' || c.name === 'gateway: API key' || ONLY.some((only) => c.name.includes(only)))
    const url = (c: Config): string => `http://127.0.0.1:${ports[c.worker]}${c.path}`

    // Startup: the first request to each isolate (module evaluation, key import) against the next ones.
    const startup: Record<string, { first: number; steady: number }> = {}
    for (const c of configs) {
      const times: number[] = []
      for (let i = 0; i < 21; i++) {
        const t = performance.now()
        const response = await fetch(url(c), { headers: c.headers })
        await response.arrayBuffer()
        if (response.status !== 200) throw new Error(`${c.name}: status ${response.status}`)
        times.push(performance.now() - t)
      }
      startup[c.name] = { first: times[0] as number, steady: median(times.slice(1)) }
    }

    // Store calls of the rate-limit rows: Durable Object RPCs counted by the bench's gateway
    // entry, Upstash commands (and HTTP round trips) counted by the REST adapter.
    if (upstash) await control(upstash, 'watch?match=igw:rl:')
    if (upstash) await control(upstash, 'watch?match=igw:cc:')
    const storeCalls = async (c: Config): Promise<{ calls: number; roundTrips: number }> => {
      const slots = c.path.startsWith('/concurrent')
      if (c.worker === 'gateway-upstash' && upstash) {
        const stats = ((await (await control(upstash, `stats?match=igw:${slots ? 'cc' : 'rl'}:`)).json()) as { result: { commands: number; requests: number } }).result
        return { calls: stats.commands, roundTrips: stats.requests }
      }
      const counts = (await (await fetch(`http://127.0.0.1:${ports[c.worker]}/__bench/store-calls`)).json()) as { calls: number; slotCalls: number }
      const calls = slots ? counts.slotCalls : counts.calls
      return { calls, roundTrips: calls }
    }
    const limitedRows = configs.filter((c) => c.path.startsWith('/limited'))
    const concurrentRows = configs.filter((c) => c.path.startsWith('/concurrent'))
    const callsPerRun = new Map<string, { calls: number; roundTrips: number; requests: number }[]>()
    const loads = await interleaved(configs, 'load', async (c) => {
      if (!limitedRows.includes(c) && !concurrentRows.includes(c)) return load(url(c), c.headers, workerd.pid as number)
      const before = await storeCalls(c)
      const sample = await load(url(c), c.headers, workerd.pid as number)
      const after = await storeCalls(c)
      callsPerRun.set(c.name, [...(callsPerRun.get(c.name) ?? []), { calls: after.calls - before.calls, roundTrips: after.roundTrips - before.roundTrips, requests: sample.requests }])
      return sample
    })
    // Latency at rest after the load rounds, interleaved the same way.
    const latencies = await interleaved(configs, 'latency', (c) => latencyAtRest(url(c), c.headers, LATENCY_REQUESTS))
    const latencyRows = configs.map((c) => {
      const runs = latencies.get(c.name) ?? []
      return {
        name: c.name,
        p50: median(runs.map((r) => r.value.p50)),
        p90: median(runs.map((r) => r.value.p90)),
        p99: median(runs.map((r) => r.value.p99)),
        addedP50: median(runs.map((r) => r.value.p50 - r.bare.p50)),
        addedP90: median(runs.map((r) => r.value.p90 - r.bare.p90)),
        addedP99: median(runs.map((r) => r.value.p99 - r.bare.p99)),
      }
    })

    // Bursts: 200 concurrent requests of one fresh invoker (a new client address each time).
    const bursts = new Map<string, number[]>()
    for (const c of limitedRows) {
      for (let i = 0; i < BURSTS; i++) {
        const before = await storeCalls(c)
        await burst(`http://127.0.0.1:${ports[c.worker]}/burst/x`, { 'cf-connecting-ip': `198.18.${i}.${c.worker.length}` }, BURST_SIZE)
        const after = await storeCalls(c)
        bursts.set(c.name, [...(bursts.get(c.name) ?? []), after.calls - before.calls])
      }
    }
    const apiKeyName = 'gateway: API key'
    const leaseRows = limitedRows.map((c) => {
      const loadRuns = loads.get(c.name) ?? []
      const keyedRuns = loads.get(apiKeyName) ?? []
      const restRuns = latencies.get(c.name) ?? []
      const keyedRest = latencies.get(apiKeyName) ?? []
      const runs = callsPerRun.get(c.name) ?? []
      return {
        name: c.name,
        throughputRatio: median(loadRuns.map((r, i) => r.value.rps / (keyedRuns[i]?.value.rps ?? NaN))),
        addedP50: median(restRuns.map((r, i) => r.value.p50 - (keyedRest[i]?.value.p50 ?? NaN))),
        callsPer1000: median(runs.map((r) => (r.calls / r.requests) * 1000)),
        roundTripsPer1000: median(runs.map((r) => (r.roundTrips / r.requests) * 1000)),
        burst: bursts.get(c.name) ?? [],
      }
    })

    const concurrencyRows = concurrentRows.map((c) => {
      const loadRuns = loads.get(c.name) ?? []
      const keyedRuns = loads.get(apiKeyName) ?? []
      const restRuns = latencies.get(c.name) ?? []
      const keyedRest = latencies.get(apiKeyName) ?? []
      const runs = callsPerRun.get(c.name) ?? []
      return {
        name: c.name,
        throughputRatio: median(loadRuns.map((r, i) => r.value.rps / (keyedRuns[i]?.value.rps ?? NaN))),
        addedP50: median(restRuns.map((r, i) => r.value.p50 - (keyedRest[i]?.value.p50 ?? NaN))),
        callsPerRequest: median(runs.map((r) => r.calls / r.requests)),
        roundTripsPerRequest: median(runs.map((r) => r.roundTrips / r.requests)),
      }
    })

    console.error('CPU micro-benchmark…')
    const cpu = await measureCpu(workerd.pid as number, ports.cpu)

    const rows = configs.map((c) => {
      const runs = loads.get(c.name) ?? []
      return {
        name: c.name,
        rps: median(runs.map((r) => r.value.rps)),
        p50: median(runs.map((r) => r.value.p50)),
        p99: median(runs.map((r) => r.value.p99)),
        rpsRatio: median(runs.map((r) => r.value.rps / r.bare.rps)),
        addedP99: median(runs.map((r) => r.value.p99 - r.bare.p99)),
        workerdCpu: median(runs.map((r) => r.value.workerdCpu)),
      }
    })

    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ${osType()} ${release()}; Node ${process.version}; workerd ${(await run(workerdBin, ['--version'])).stdout.trim()}`
    const report = render({ startedAt, machine, rows, latencyRows, leaseRows, concurrencyRows, cpu, startup, listening, bundles: { bare, 'hono-jwt': honoJwt, gateway } })
    writeFileSync(ONLY.length > 0 ? join(OUT, 'RESULTS-only.md') : 'bench/RESULTS.md', report)
    console.log(report)
  } finally {
    stopAll()
  }
}

/** The MCP budgets (issue 14): tool policy on a tools/call, and rewriting a list of 1,000 tools. */
function mcpLines(cpu: CpuResult[]): string[] {
  const at = (name: string): number | undefined => cpu.find((c) => c.name === `gateway: MCP ${name}`)?.microseconds
  const pairs = [
    ['tool policy on a tools/call (API key)', 'tools/call, tool policy', 'tools/call, pack without tools', 'budget ≤ 50 µs'],
    ['filtering a tools/list of 1,000 tools, JSON answer (read, 1,000 decisions, 111 tools cut out)', 'tools/list of 1,000 tools (JSON), filtered', 'tools/list of 1,000 tools (JSON), pack without tools', 'budget < 5 ms'],
    ['filtering a tools/list of 1,000 tools, SSE answer', 'tools/list of 1,000 tools (SSE), filtered', 'tools/list of 1,000 tools (SSE), pack without tools', 'budget < 5 ms'],
  ] as const
  return [
    'MCP (issue 14): each pair is the same request on an MCP pack with a tool policy and on the same pack without `tools`; the difference is what the policy costs in the handler. The list is answered in-process (1,000 tools with a schema each, 250 KB). The MCP rows are POSTs with a JSON-RPC body, which the gateway reads on every MCP pack; compare them with each other, not with the API-key row (a GET).',
    '',
    '| what | µs with | µs without | µs added | budget |',
    '|---|---:|---:|---:|---|',
    ...pairs.map(([what, withPolicy, without, budget]) => {
      const a = at(withPolicy)
      const b = at(without)
      return a === undefined || b === undefined ? `| ${what} | – | – | – | ${budget} |` : `| ${what} | ${fmt(a)} | ${fmt(b)} | ${fmt(a - b)} | ${budget} |`
    }),
    '',
  ]
}

function render(r: {
  startedAt: Date
  machine: string
  rows: { name: string; rps: number; p50: number; p99: number; rpsRatio: number; addedP99: number; workerdCpu: number }[]
  latencyRows: { name: string; p50: number; p90: number; p99: number; addedP50: number; addedP90: number; addedP99: number }[]
  leaseRows: { name: string; throughputRatio: number; addedP50: number; callsPer1000: number; roundTripsPer1000: number; burst: number[] }[]
  concurrencyRows: { name: string; throughputRatio: number; addedP50: number; callsPerRequest: number; roundTripsPerRequest: number }[]
  cpu: CpuResult[]
  startup: Record<string, { first: number; steady: number }>
  listening: number
  bundles: Record<string, { raw: number; gzipped: number }>
}): string {
  const lines = [
    '# Benchmark results',
    '',
    `Run: ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench\`.`,
    `Machine: ${r.machine}.`,
    `Load: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} interleaved rounds; medians over rounds.`,
    'All workers on one `workerd serve`, in front of one Node backend answering a fixed body, all on loopback.',
    'Absolute numbers depend on the machine (the load generator, workerd and the backend share its cores); the ratios to the bare Worker of the same round are what to compare.',
    '',
    '## Throughput and latency under load',
    '',
    '| configuration | req/s | p50 ms | p99 ms | req/s vs bare | added p99 ms | workerd CPU µs/request |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map((row) => `| ${row.name} | ${fmt(row.rps)} | ${fmt(row.p50, 1)} | ${fmt(row.p99, 1)} | ${pct(row.rpsRatio)} | ${fmt(row.addedP99, 1)} | ${fmt(row.workerdCpu)} |`),
    '',
    ...r.rows
      .filter((row) => row.name.includes('rate limit'))
      .map((row) => {
        const keyed = r.rows.find((k) => k.name === 'gateway: API key')
        return keyed ? `- ${row.name}: ${pct(row.rps / keyed.rps)} of the throughput of the same route without the rule; p99 ${fmt(row.p99 - keyed.p99, 1)} ms more.` : ''
      }),
    ...r.rows
      .filter((row) => row.name.includes('signed request'))
      .map((row) => {
        const keyed = r.rows.find((k) => k.name === 'gateway: API key')
        const cpuSigned = r.cpu.find((c) => c.name.includes('signed request'))
        const cpuKeyed = r.cpu.find((c) => c.name === 'gateway: API key')
        const floor = (r.cpu[0] as CpuResult).microseconds
        const cpuRatio = cpuSigned && cpuKeyed ? ` Handler CPU: ${fmt((cpuSigned.microseconds - floor) / (cpuKeyed.microseconds - floor), 2)}× an API-key request's.` : ''
        return keyed ? `- ${row.name}: ${pct(row.rps / keyed.rps)} of the throughput of an API-key request (ratio ${fmt(row.rps / keyed.rps, 2)}).${cpuRatio}` : ''
      }),
    '',
    'The last column is workerd\'s CPU time during the run divided by the requests served: when workerd is the bottleneck (it runs one thread here, and shares two cores with the load generator and the backend), throughput is roughly inversely proportional to it.',
    '',
    'Budgets (SPEC §10): ≥ 85% of bare throughput with API-key or cached-JWKS bearer auth; ≤ 1 ms added p99. Autocannon reports latency in whole milliseconds. At this concurrency workerd is saturated, so these latencies are mostly queueing behind other requests and follow throughput; the latency a request itself gains is in the next table.',
    `The reference row (\`bench/workers/minimal-signer.ts\`) is not the gateway: it does only what any API-key gateway that signs an X-Invoker token must do per request (hash the key, copy the headers without it, sign an EdDSA token with jose, bound the backend wait with a timer, echo a request id, log one line), with no routing, policy or error handling. Its distance from bare is the cost of that work on this machine; the gateway's distance from it is the cost of the gateway's own structure.`,
    'The HS256 row is the same gateway with X-Invoker signed by a secret shared with the backend (SPEC §6 allows EdDSA, ES256 or HS256): its distance from the API-key row is what an Ed25519 signature costs against an HMAC.',
    'Rate-limit rows: one rule (by invoker, never refusing; `on_error: deny`, so a failing store shows as errors rather than as admissions) on the API-key route; compare them with the API-key row for the cost of one rule. The Upstash row runs the real `@upstash/redis` client and the gateway\'s lease script against a local redis-server through the test suite\'s REST adapter (a Node process on the same two cores), so it measures the round trip\'s CPU here, not a network hop to Upstash. The Durable Object row keeps its objects on disk (workerd\'s in-memory storage has no SQLite).',
    'Bearer rows: an EdDSA access token checked against a JWKS the gateway fetched once from the backend process and keeps cached (jose remote set); the hand-written proxy is given the same keys inline.',
    'Signed-request rows: an ed25519 RFC 9421 signature over @method, @authority, @path, verified per request; the load generator repeats one request, so the bench policy makes the nonce optional and the nonce cache (one store round trip, like a rate-limit rule) is not in these numbers.',
    '',
    '## Latency at rest',
    '',
    `One keep-alive connection, one request at a time (nothing queued), ${LATENCY_REQUESTS} timed requests per configuration and round after 50 untimed ones, interleaved over ${ROUNDS} rounds; medians over rounds. Timed in the client (Node, \`performance.now()\`), so it includes the loopback hops to workerd and to the backend.`,
    '',
    '| configuration | p50 ms | p90 ms | p99 ms | added p50 ms | added p90 ms | added p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.latencyRows.map(
      (row) =>
        `| ${row.name} | ${fmt(row.p50 / 1000, 2)} | ${fmt(row.p90 / 1000, 2)} | ${fmt(row.p99 / 1000, 2)} | ${fmt(row.addedP50 / 1000, 2)} | ${fmt(row.addedP90 / 1000, 2)} | ${fmt(row.addedP99 / 1000, 2)} |`,
    ),
    '',
    'Budget (SPEC §10): ≤ 1 ms added p99. On this shared virtual machine the p99 of one connection moves by several milliseconds between runs for the bare Worker alone (a request in a hundred meets a scheduler or idle wake-up delay, and the p99 sits at that threshold), so the added p99 here is noise of either sign; the p50 and p90 columns are the steady measure of what a configuration adds to a request.',
    '',
    '## Rate limits: leases (issue 13)',
    '',
    `One rule (by invoker, never refusing) on the API-key route, against the same route without it: throughput under load and added p50 at rest as medians of the per-round ratios and differences; store calls counted during the load runs (the rule's invoker is hot: one API key); then ${BURSTS} bursts of ${BURST_SIZE} concurrent requests, each of a fresh invoker (an anonymous caller per client address).`,
    '',
    '| store | throughput with the rule / without | added p50 at rest µs | store calls per 1,000 admitted | HTTP round trips per 1,000 | store calls per burst of 200 (each burst) |',
    '|---|---:|---:|---:|---:|---|',
    ...r.leaseRows.map(
      (row) =>
        `| ${row.name.replace('gateway: API key + 1 rate limit ', '')} | ${pct(row.throughputRatio)} | ${fmt(row.addedP50, 0)} | ${fmt(row.callsPer1000, 1)} | ${fmt(row.roundTripsPer1000, 1)} | ${row.burst.join(', ')} |`,
    ),
    '',
    ...(() => {
      const keyed = r.cpu.find((c) => c.name === 'gateway: API key')
      const limited = r.cpu.find((c) => c.name.includes('rate limit'))
      return keyed && limited
        ? [`Handler CPU (next section, in-process, without the noise of the machine's other load): the rule adds ${fmt(limited.microseconds - keyed.microseconds, 0)} µs to an API-key request (${pct(limited.microseconds / keyed.microseconds - 1)}), store calls included.`, '']
        : []
    })(),
    'Budgets (issue 13): ≥ 90% of the throughput without the rule on both stores; ≤ 0.1 ms (100 µs) added p50 at rest for a request admitted from a lease; report store round trips per 1,000 admitted requests of one hot invoker (target ≤ 20); ≤ 3 store calls for a burst of 200. A store call is one Durable Object RPC or one Upstash command (the Upstash client may carry several commands in one HTTP round trip). The machine is shared with other test runs: compare ratios within this run.',
    '',
    '## Concurrency rules (issue 15)',
    '',
    'One concurrency rule (by invoker, limit 10,000, never refusing; `on_error: deny`) on the API-key route, against the same route without it: throughput under load and added p50 at rest as medians of the per-round ratios and differences; store calls counted during the load runs. A request takes its slot before it is forwarded and gives it back when its answer has been sent (its body passes through the gateway chunk by chunk, to know when it ends): at most one store call each, none when it takes over the slot a request of the same key parked in the isolate less than 100 ms before (the load generator\'s one key does so almost always); an open one is renewed once per third of `concurrency_lease`, which these short requests never reach.',
    '',
    '| store | throughput with the rule / without | added p50 at rest µs | store calls per request | HTTP round trips per request |',
    '|---|---:|---:|---:|---:|',
    ...r.concurrencyRows.map(
      (row) =>
        `| ${row.name.replace('gateway: API key + 1 concurrency rule ', '')} | ${pct(row.throughputRatio)} | ${fmt(row.addedP50, 0)} | ${fmt(row.callsPerRequest, 2)} | ${fmt(row.roundTripsPerRequest, 2)} |`,
    ),
    '',
    'Budget (issue 15): at most one store round trip when a request starts and one when it ends, plus one per renewal period for long requests. The machine is shared with other test runs: compare ratios within this run.',
    '',
    '## CPU per request in the handler',
    '',
    `The gateway's own handler (\`createGateway(policy).fetch\`) run ${CPU_ITERATIONS} times in a loop inside workerd, with \`fetch\` answered in-process (no network), so only the gateway's work is timed: routing, authentication, authorization, signing the X-Invoker token, building the upstream request and the log line. CPU time is workerd's own (all threads, from /proc, median of 3 runs, the cases interleaved). The floor row is a pass-through handler in the same loop: the cost of building the requests and responses the loop itself needs.`,
    '',
    '| case | µs per request (loop total) | µs above the floor (the gateway\'s own) |',
    '|---|---:|---:|',
    ...r.cpu.map((c) => `| ${c.name} | ${fmt(c.microseconds, 0)} | ${c === r.cpu[0] ? '–' : fmt(c.microseconds - (r.cpu[0] as CpuResult).microseconds, 0)} |`),
    '',
    'Budget (SPEC §10): ≤ 300 µs for API key / bearer. Resolution: workerd\'s CPU time is read in 10 ms ticks, so ±1 µs at the default iteration count.',
    '',
    ...mcpLines(r.cpu),
    '',
    '## Bundle and startup',
    '',
    '| worker | bundle raw | bundle gzipped | first request ms | later requests ms (median) |',
    '|---|---:|---:|---:|---:|',
    ...Object.entries(r.bundles).map(([name, b]) => {
      const s = Object.entries(r.startup).find(([n]) => n.startsWith(name === 'hono-jwt' ? 'hono-jwt' : name === 'gateway' ? 'gateway: API key' : 'bare'))?.[1]
      return `| ${name} | ${(b.raw / 1024).toFixed(1)} KiB | ${(b.gzipped / 1024).toFixed(1)} KiB | ${s ? fmt(s.first, 1) : '–'} | ${s ? fmt(s.steady, 2) : '–'} |`
    }),
    '',
    `workerd was listening ${r.listening} ms after launch (all three workers loaded). Budget: gateway bundle ≤ 150 KiB gzipped.`,
    '',
  ]
  return lines.join('\n')
}

await main()
