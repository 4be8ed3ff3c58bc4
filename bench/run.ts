/**
 * `npm run bench`: the gateway's cost against a bare pass-through Worker and a lean hand-written
 * reference, side by side on one workerd, one backend, one load generator. Reports; never fails
 * on a figure. A full run writes bench/RESULTS.md; a partial one (BENCH_ONLY, BENCH_QUICK,
 * BENCH_SECTIONS) writes bench/out/RESULTS.partial.md and leaves the project's results alone.
 *
 * workerd is pinned alone on one core and the load generator and backend on the other(s)
 * (`taskset`, where the machine has two or more), so its CPU is not shared with the work it is
 * measured against; its CPU per request comes from the kernel's per-thread schedstat counters
 * over each measured window. Workers are bundled as `wrangler deploy --dry-run` bundles them and
 * served by `workerd serve` with a generated config (not `wrangler dev`, whose dev proxy costs
 * ~8x). Rows are interleaved over rounds, and every ratio is taken against the bare Worker and
 * the lean reference of the same round.
 *
 * Environment:
 *   BENCH_ONLY=id,id      rows to measure (ids in bench/rows.ts); `bare` and `lean` always run
 *   BENCH_QUICK=1         3 rounds of 2 s, fewer at-rest requests and loop iterations, no bursts
 *   BENCH_SECTIONS=…      any of load,rest,leases,cpu (default all)
 *   BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_LATENCY_REQUESTS, BENCH_CPU_ITERATIONS
 *   BENCH_PIN=0           run unpinned; BENCH_WORKERD_CPU=n: workerd's core (default the first)
 *   BENCH_INSPECTOR=port  workerd's inspector on 127.0.0.1:port, one target per worker, for a CPU
 *                         profile (Profiler domain); it slows every row, so not for figures
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, type as osType, release } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { compactVerify, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose'
import { serializeDictionary, type InnerList, type Item } from 'structured-headers'
import { renderModule } from '../src/cli/build-policies.ts'
import { generateApiKey, sha256Hex } from '../src/keys/api-key-format.ts'
import { signatureBase } from '../src/pipeline/authenticate/envelope/signature-base.ts'
import { compilePolicies, formatError } from '../src/policy/compiler/compile.ts'
import type { CompiledPolicy } from '../src/policy/types.ts'
import { freePort } from '../test/support/ports.ts'
import { WORKERD_BINARY } from '../test/support/workerd-binary.ts'
import { startUpstashRestAdapter, type UpstashRestAdapter } from '../test/support/upstash-rest.ts'
import {
  burst,
  cpuBetween,
  latencyAtRest,
  load,
  median,
  pin,
  readCpu,
  schedstatAvailable,
  waitForPort,
  type Latency,
  type LoadSample,
} from './measure.ts'
import {
  render,
  summary,
  type Bundle,
  type CpuCase,
  type LeaseFigures,
  type Results,
  type StoreCalls,
} from './report.ts'
import { API_KEY, EXTRA_PACKS, MCP, ROWS, selectRows, type Row, type RowContext, type WorkerName } from './rows.ts'

const QUICK = process.env['BENCH_QUICK'] === '1'
const ONLY = process.env['BENCH_ONLY'] || undefined
const SECTIONS = new Set((process.env['BENCH_SECTIONS'] ?? 'load,rest,leases,cpu').split(',').map((s) => s.trim()))
// Seven short rounds rather than five long ones: the machine is shared, other work lands on
// workerd's core in bursts of seconds, and a median over more rounds shrugs off more of them.
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (QUICK ? 3 : 7))
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 2 : 3))
const WARM_UP_SECONDS = 1
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16)
const LATENCY_REQUESTS = Number(process.env['BENCH_LATENCY_REQUESTS'] ?? (QUICK ? 300 : 1000))
const CPU_ITERATIONS = Number(process.env['BENCH_CPU_ITERATIONS'] ?? (QUICK ? 2000 : 10_000))
const CPU_RUNS = 3
const BURSTS = QUICK ? 0 : 5
const BURST_SIZE = 200
const COMPATIBILITY_DATE = '2026-11-01'
const BENCH_IDP = 'https://idp.bench'
const BENCH_AUDIENCE = 'https://agents.bench'
const BENCH_ISSUER = 'https://gateway.bench'
const OUT = resolve('bench/out')
const run = promisify(execFile)

/** The handler-loop cases (bench/workers/cpu.ts), each shown when its row is selected. */
const CPU_CASES: { name: string; key: string; row: string }[] = [
  { name: 'floor (pass-through handler, same loop)', key: 'floor', row: 'bare' },
  { name: 'lean reference (same loop)', key: 'lean', row: 'lean' },
  { name: 'no-token lower bound (same loop)', key: 'lean_no_token', row: 'lean-no-token' },
  { name: 'gateway: API key', key: 'api_key', row: API_KEY },
  { name: 'gateway: API key, X-Invoker signed with HS256', key: 'api_key_hs256', row: 'gateway-hs256' },
  { name: 'gateway: bearer JWT (JWKS cached)', key: 'bearer', row: 'gateway-bearer' },
  { name: 'gateway: signed request (ed25519, RFC 9421)', key: 'signed', row: 'gateway-signed' },
  { name: 'gateway: anonymous', key: 'anonymous', row: 'gateway-anonymous' },
  { name: 'gateway: refused (no key, 401)', key: 'refused', row: API_KEY },
  {
    name: 'gateway: API key + 1 rate limit (leases, Durable Object)',
    key: 'rate_limited',
    row: 'gateway-rate-limit-do',
  },
  // Issue 15: the slot taken over from the previous iteration (Durable Object store, in-process).
  { name: 'gateway: API key + 1 concurrency rule (Durable Object)', key: 'concurrency', row: 'gateway-concurrency-do' },
  // MCP (issue 14): pairs on the MCP pack with a tool policy and on the same pack without
  // `tools`; the tools/list answer (1,000 tools) comes from bench/workers/cpu.ts's fetch.
  { name: 'gateway: API key, POST of the same JSON-RPC body to a plain pack', key: 'post_plain', row: MCP },
  { name: 'gateway: MCP tools/call, pack without tools', key: 'mcp_call_plain', row: MCP },
  { name: 'gateway: MCP tools/call, tool policy', key: 'mcp_call', row: MCP },
  { name: 'gateway: MCP tools/list of 1,000 tools (JSON), pack without tools', key: 'mcp_list_plain', row: MCP },
  { name: 'gateway: MCP tools/list of 1,000 tools (JSON), filtered', key: 'mcp_list', row: MCP },
  { name: 'gateway: MCP tools/list of 1,000 tools (SSE), pack without tools', key: 'mcp_list_sse_plain', row: MCP },
  { name: 'gateway: MCP tools/list of 1,000 tools (SSE), filtered', key: 'mcp_list_sse', row: MCP },
]

function startBackend(jwks: string): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(process.execPath, ['bench/backend.ts'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_JWKS: jwks },
  })
  return new Promise((resolvePort) => {
    child.stdout?.once('data', (d: Buffer) => resolvePort({ child, origin: `http://127.0.0.1:${d.toString().trim()}` }))
  })
}

/** Every row's pack (selected or not: the gateway routes over the same table whatever runs). */
function benchPolicy(backend: string, keyId: string, sha256: string, signerJwk: JsonWebKey): CompiledPolicy {
  const packs = new Map<string, string>()
  for (const make of [...ROWS.flatMap((r) => (r.pack ? [r.pack] : [])), ...EXTRA_PACKS]) {
    const text = make(backend)
    packs.set(/^pack: (\S+)/.exec(text)?.[1] ?? text, text)
  }
  const result = compilePolicies({
    policies: [
      {
        path: 'bench/_gateway.yaml',
        text:
          `issuer: ${BENCH_ISSUER}\napi_keys:\n  bench:\n    key_id: "${keyId}"\n    sha256: "${sha256}"\nissuers:\n  bench-idp:\n    issuer: ${BENCH_IDP}\n    jwks_uri: ${backend}/jwks\n    audience: ${BENCH_AUDIENCE}\n    algorithms: [EdDSA]\n` +
          // The load generator repeats one signed request, so the nonce is optional here (SPEC's default is required).
          `signers:\n  bench-agent:\n    keyid: bench-agent\n    algorithm: ed25519\n    jwk: ${JSON.stringify({ kty: signerJwk.kty, crv: signerJwk.crv, x: signerJwk.x })}\nenvelope: { nonce: optional, max_age: 1h }\n`,
      },
      ...[...packs].map(([name, text]) => ({ path: `bench/${name}.yaml`, text })),
    ],
  })
  if (!result.ok) throw new Error(result.errors.map(formatError).join('\n'))
  writeFileSync(
    join(OUT, 'policy.gen.ts'),
    renderModule(result.policy).replace("from './types.ts'", "from '../../src/policy/types.ts'"),
  )
  return result.policy
}

/** The lean reference's tables, from the same compiled policy: it routes and looks up what the gateway does. */
function leanBindings(policy: CompiledPolicy): Record<string, string> {
  return {
    LEAN_ROUTES: JSON.stringify(policy.packs.map((p) => ({ prefix: p.pathPrefix, pack: p.id, upstream: p.upstream }))),
    LEAN_API_KEYS: JSON.stringify(
      Object.values(policy.apiKeys).map((k) => ({
        keyId: k.keyId,
        sha256: k.sha256,
        name: k.name,
        invoker: k.invoker,
      })),
    ),
    LEAN_ISSUER: policy.gateway.issuer,
  }
}

async function bundle(name: string, entry: string): Promise<Bundle & { dir: string }> {
  const dir = join(OUT, name)
  // A fresh output directory: wrangler was seen to leave an earlier build's file in place.
  rmSync(join(dir, 'dist'), { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const config = join(dir, 'wrangler.toml')
  writeFileSync(
    config,
    // keep_names as the project's wrangler.toml sets it.
    `name = "bench-${name}"\nmain = "${resolve(entry)}"\ncompatibility_date = "${COMPATIBILITY_DATE}"\nkeep_names = false\n`,
  )
  await run('wrangler', ['deploy', '--dry-run', '--outdir', join(dir, 'dist'), '--config', config], {
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  })
  // wrangler names the output after the entry file.
  const output = readdirSync(join(dir, 'dist')).find((f) => f.endsWith('.js') && f !== 'index.js') ?? 'index.js'
  const code = readFileSync(join(dir, 'dist', output))
  writeFileSync(join(dir, 'dist', 'index.js'), code)
  return { name, dir, raw: code.length, gzipped: gzipSync(code).length }
}

/** The Worker as the project deploys it (wrangler.toml, policies/), for the bundle budget. */
async function deployBundle(): Promise<Bundle> {
  await run(process.execPath, ['src/cli/main.ts', 'build'])
  const outdir = join(OUT, 'deploy')
  rmSync(outdir, { recursive: true, force: true })
  await run('wrangler', ['deploy', '--dry-run', '--outdir', outdir], {
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  })
  const code = Buffer.concat(
    readdirSync(outdir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(outdir, f))),
  )
  return { name: 'gateway as deployed (wrangler.toml, policies/)', raw: code.length, gzipped: gzipSync(code).length }
}

interface WorkerSpec {
  name: string
  /** Which bundle under bench/out/ it runs (several workers may share one). */
  bundle?: string
  port: number
  bindings: Record<string, string>
  /** Gives the worker the Durable Object store as GATEWAY_STORE (objects on disk). */
  store?: boolean
}

function capnp(workers: WorkerSpec[]): string {
  const services = workers
    .map(
      (w) =>
        `    (name = "${w.name}", worker = .${camel(w.name)}),` +
        (w.store
          ? `\n    (name = "${w.name}-storage", disk = (path = "${join(OUT, `${w.name}-storage`)}", writable = true)),`
          : ''),
    )
    .join('\n')
  const sockets = workers
    .map((w) => `    (name = "${w.name}", address = "127.0.0.1:${w.port}", http = (), service = "${w.name}"),`)
    .join('\n')
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
      const storeBinding = w.store
        ? '\n    (name = "GATEWAY_STORE", durableObjectNamespace = "GatewayStoreObject"),'
        : ''
      // The flag as wrangler.toml sets it (the gateway gives a request's concurrency slots back
      // when its client goes away), on every worker so that all run the same runtime.
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

function control(adapter: { url: string; token: string }, action: string): Promise<Response> {
  return fetch(`${adapter.url}/__control/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adapter.token}` },
  })
}

/**
 * Measures every row once per round, the order reversed every other round, so that drift in the
 * machine's speed hits all of them alike; returns each row's values in round order.
 */
async function interleaved<T>(
  rows: Row[],
  label: string,
  measure: (row: Row) => Promise<T>,
): Promise<Map<string, T[]>> {
  const out = new Map<string, T[]>(rows.map((r) => [r.id, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of round % 2 === 0 ? rows : [...rows].reverse()) {
      console.error(`${label} ${round + 1}/${ROUNDS}: ${row.id}`)
      out.get(row.id)?.push(await measure(row))
    }
  }
  return out
}

/**
 * Before anything is measured: the lean reference and the gateway both forward a verifiable
 * X-Invoker with the same claims, so the reference is doing the work it stands for.
 */
async function checkTokens(
  urls: { lean: string; gateway: string },
  headers: Record<string, string>,
  publicJwk: JWK,
): Promise<void> {
  const key = await importJWK(publicJwk, 'EdDSA')
  const claimsOf = async (url: string): Promise<Record<string, unknown>> => {
    const response = await fetch(url, { headers })
    const echoed = (await response.json()) as Record<string, string>
    if (response.status !== 200 || !echoed['x-invoker'])
      throw new Error(`${url}: no X-Invoker reached the backend (status ${response.status})`)
    if (echoed['x-api-key']) throw new Error(`${url}: the API key reached the backend`)
    const { payload, protectedHeader } = await compactVerify(echoed['x-invoker'], key)
    if (protectedHeader.typ !== 'invoker+jwt') throw new Error(`${url}: X-Invoker typ is ${protectedHeader.typ}`)
    return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>
  }
  const lean = await claimsOf(urls.lean)
  const gateway = await claimsOf(urls.gateway)
  const names = (c: Record<string, unknown>): string => Object.keys(c).sort().join(',')
  if (names(lean) !== names(gateway))
    throw new Error(`lean reference claims (${names(lean)}) differ from the gateway's (${names(gateway)})`)
  for (const claim of ['iss', 'aud', 'sub', 'htm', 'htu']) {
    if (JSON.stringify(lean[claim]) !== JSON.stringify(gateway[claim]))
      throw new Error(`claim ${claim}: lean ${JSON.stringify(lean[claim])}, gateway ${JSON.stringify(gateway[claim])}`)
  }
}

async function main(): Promise<void> {
  const started = Date.now()
  const startedAt = new Date()
  const loadavgStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ')
  rmSync(OUT, { recursive: true, force: true })
  mkdirSync(OUT, { recursive: true })
  const rows = selectRows(ONLY)
  const partial = [
    ONLY ? `rows ${rows.map((r) => r.id).join(', ')}` : '',
    QUICK ? 'quick mode' : '',
    process.env['BENCH_SECTIONS'] ? `sections ${[...SECTIONS].join(', ')}` : '',
    ROUNDS < 5 ? `${ROUNDS} rounds (fewer than five)` : '',
  ]
    .filter(Boolean)
    .join('; ')

  // Pinned before any child starts, so the backend and Redis inherit the load side's cores.
  const pinning = await pin()
  console.error(
    pinning.pinned
      ? `pinned: workerd on CPU ${pinning.workerdCpu}, load generator and backend on ${pinning.loadCpus.join(',')}`
      : `not pinned: ${pinning.unpinnedBecause}`,
  )

  const idp = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const idpJwks = JSON.stringify({ keys: [{ ...(await exportJWK(idp.publicKey)), alg: 'EdDSA', kid: 'idp' }] })
  // One token for both the hand-written Hono proxy and the gateway (which also checks iss and aud).
  const bearer = await new SignJWT({ sub: 'bench-user' })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'idp' })
    .setIssuer(BENCH_IDP)
    .setAudience(BENCH_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(idp.privateKey)
  const backend = await startBackend(idpJwks)
  // Whatever happens from here (a failed build, a refused request), the children go with us.
  const stopAll = (): void => {
    for (const child of [backend.child, workerd]) child?.kill('SIGTERM')
    void upstash?.close()
  }
  let workerd: ChildProcess | undefined
  let upstash: UpstashRestAdapter | null = null
  process.on('exit', stopAll)

  const { key, keyId } = generateApiKey()
  const agent = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const policy = benchPolicy(
    backend.origin,
    keyId,
    await sha256Hex(key),
    (await crypto.subtle.exportKey('jwk', agent.publicKey)) as JsonWebKey,
  )
  const signedHeaders = async (authority: string): Promise<Record<string, string>> => {
    const input: InnerList = [
      ['@method', '@authority', '@path'].map((c): Item => [c, new Map()]),
      new Map<string, string | number>([
        ['created', Math.floor(Date.now() / 1000)],
        ['keyid', 'bench-agent'],
      ]),
    ]
    const base = signatureBase(
      { method: 'GET', url: new URL(`http://${authority}/signed/x`), headers: new Headers() },
      input,
    )
    const signature = await crypto.subtle.sign('Ed25519', agent.privateKey, new TextEncoder().encode(base))
    return {
      'signature-input': serializeDictionary(new Map([['sig1', input]])),
      signature: serializeDictionary(new Map([['sig1', [signature, new Map()]]])),
    }
  }
  const signer = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const signerPublic: JWK = { ...(await exportJWK(signer.publicKey)), alg: 'EdDSA', kid: 'bench' }
  const signingKeys = JSON.stringify({
    keys: [{ ...(await exportJWK(signer.privateKey)), alg: 'EdDSA', kid: 'bench' }],
  })
  // The same gateway signing X-Invoker with a secret shared with the backend instead (SPEC §6 allows HS256).
  const hmacSigningKeys = JSON.stringify({
    keys: [
      {
        kty: 'oct',
        k: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'),
        alg: 'HS256',
        kid: 'bench-hs',
      },
    ],
  })

  console.error('bundling workers…')
  const [bare, lean, honoJwt, gateway, , deployed] = await Promise.all([
    bundle('bare', 'bench/workers/bare.ts'),
    bundle('lean', 'bench/workers/lean.ts'),
    bundle('hono-jwt', 'bench/workers/hono-jwt.ts'),
    bundle('gateway', 'bench/workers/gateway.ts'),
    bundle('cpu', 'bench/workers/cpu.ts'),
    deployBundle(),
  ])
  const workerNames: WorkerName[] = [
    'bare',
    'lean',
    'lean-no-token',
    'hono-jwt',
    'gateway',
    'gateway-hs256',
    'gateway-upstash',
  ]
  const ports = Object.fromEntries(
    await Promise.all([...workerNames, 'cpu'].map(async (w) => [w, await freePort()] as const)),
  ) as Record<WorkerName | 'cpu', number>
  // Upstash as the store: a real redis-server behind the test suite's Upstash REST adapter, when
  // a selected row needs it and redis-server is installed (CI installs it; else that row is skipped).
  if (rows.some((r) => r.store === 'upstash')) {
    upstash = await startUpstashRestAdapter().catch((error: unknown) => {
      console.error(`no Upstash row: ${error instanceof Error ? error.message : String(error)}`)
      return null
    })
  }
  const measured = rows.filter((r) => r.store !== 'upstash' || upstash !== null)
  for (const dir of ['gateway-storage', 'cpu-storage']) mkdirSync(join(OUT, dir))
  const leanTables = leanBindings(policy)
  writeFileSync(
    join(OUT, 'workerd.capnp'),
    capnp([
      { name: 'bare', port: ports.bare, bindings: { BACKEND: backend.origin } },
      { name: 'lean', port: ports.lean, bindings: { ...leanTables, INVOKER_SIGNING_KEYS: signingKeys } },
      {
        name: 'lean-no-token',
        bundle: 'lean',
        port: ports['lean-no-token'],
        bindings: { ...leanTables, INVOKER_SIGNING_KEYS: signingKeys, LEAN_SIGN: 'off' },
      },
      { name: 'hono-jwt', port: ports['hono-jwt'], bindings: { BACKEND: backend.origin, JWKS: idpJwks } },
      { name: 'gateway', port: ports.gateway, bindings: { INVOKER_SIGNING_KEYS: signingKeys }, store: true },
      {
        name: 'gateway-hs256',
        bundle: 'gateway',
        port: ports['gateway-hs256'],
        bindings: { INVOKER_SIGNING_KEYS: hmacSigningKeys },
      },
      {
        name: 'gateway-upstash',
        bundle: 'gateway',
        port: ports['gateway-upstash'],
        bindings: {
          INVOKER_SIGNING_KEYS: signingKeys,
          UPSTASH_REDIS_REST_URL: upstash?.url ?? '',
          UPSTASH_REDIS_REST_TOKEN: upstash?.token ?? '',
        },
      },
      {
        name: 'cpu',
        port: ports.cpu,
        store: true,
        bindings: {
          ...leanTables,
          INVOKER_SIGNING_KEYS: signingKeys,
          BENCH_API_KEY: key,
          BENCH_BEARER: bearer,
          BENCH_JWKS: idpJwks,
          BENCH_SIGNED: JSON.stringify(await signedHeaders('gw.bench')),
          BENCH_HS256_KEYS: hmacSigningKeys,
        },
      },
    ]),
  )

  // The platform binary itself (not the Node launcher in node_modules/.bin): its pid is the
  // process whose CPU is measured.
  const workerdBin = WORKERD_BINARY
  const launched = Date.now()
  const inspector = process.env['BENCH_INSPECTOR']
    ? [`--inspector-addr=127.0.0.1:${process.env['BENCH_INSPECTOR']}`]
    : []
  const [command, ...args] = [...pinning.workerdPrefix, workerdBin, 'serve', ...inspector, join(OUT, 'workerd.capnp')]
  // `taskset -c N cmd` execs cmd: the child's pid is workerd's.
  workerd = spawn(command as string, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  try {
    await waitForPort(ports.gateway, Date.now() + 30_000)
    const listeningMs = Date.now() - launched
    const workerdPid = workerd.pid as number
    const cpuSource = schedstatAvailable(workerdPid) ? 'schedstat' : 'stat'
    const loadPids = [backend.child.pid as number]

    const context: RowContext = { apiKey: key, bearer, signedHeaders, authority: (w) => `127.0.0.1:${ports[w]}` }
    const headers = new Map<string, Record<string, string>>()
    for (const row of measured) headers.set(row.id, await row.headers(context))
    const url = (row: Row): string => `http://127.0.0.1:${ports[row.worker]}${row.path}`
    const requestHeaders = (row: Row): Record<string, string> => headers.get(row.id) ?? {}

    await checkTokens(
      {
        lean: `http://127.0.0.1:${ports.lean}/keyed/__echo`,
        gateway: `http://127.0.0.1:${ports.gateway}/keyed/__echo`,
      },
      { 'x-api-key': key },
      signerPublic,
    )

    // Node's own fetch warmed up first (on the backend), so the first row timed does not pay for it.
    for (let i = 0; i < 20; i++) await (await fetch(`${backend.origin}/x`)).arrayBuffer()
    // Startup: the first request to each isolate (module evaluation, key import) against the next ones.
    const startup = new Map<string, { first: number; steady: number }>()
    for (const row of measured) {
      const times: number[] = []
      for (let i = 0; i < 21; i++) {
        const t = performance.now()
        const response = await fetch(url(row), {
          headers: requestHeaders(row),
          ...(row.body === undefined ? {} : { method: 'POST', body: row.body }),
        })
        await response.arrayBuffer()
        if (response.status !== 200) throw new Error(`${row.id}: status ${response.status}`)
        times.push(performance.now() - t)
      }
      startup.set(row.id, { first: times[0] as number, steady: median(times.slice(1)) })
    }

    // Store calls of the store rows: Durable Object RPCs counted by the bench's gateway entry
    // (rate-limit counters `rl:`, concurrency counters `cc:`), Upstash commands (and HTTP round
    // trips) counted by the REST adapter by key prefix.
    if (upstash) {
      await control(upstash, 'watch?match=igw:rl:')
      await control(upstash, 'watch?match=igw:cc:')
    }
    const storeCalls = async (row: Row): Promise<{ calls: number; roundTrips: number }> => {
      const slots = row.rule === 'concurrency'
      if (row.store === 'upstash' && upstash) {
        const stats = (
          (await (await control(upstash, `stats?match=igw:${slots ? 'cc' : 'rl'}:`)).json()) as {
            result: { commands: number; requests: number }
          }
        ).result
        return { calls: stats.commands, roundTrips: stats.requests }
      }
      const counts = (await (await fetch(`http://127.0.0.1:${ports[row.worker]}/__bench/store-calls`)).json()) as {
        calls: number
        slotCalls: number
      }
      const calls = slots ? counts.slotCalls : counts.calls
      return { calls, roundTrips: calls }
    }
    const limited = SECTIONS.has('leases')
      ? measured.filter((r) => r.store !== undefined && r.rule !== 'concurrency')
      : []
    const leases = new Map<string, LeaseFigures>(limited.map((r) => [r.id, { calls: [], bursts: [] }]))
    // Concurrency rows (issue 15): their slot calls are counted in every load window.
    const slotted = measured.filter((r) => r.rule === 'concurrency')
    const slots = new Map<string, StoreCalls[]>(slotted.map((r) => [r.id, []]))

    let loads: Map<string, LoadSample[]> | null = null
    let threadsChanged = 0
    if (SECTIONS.has('load')) {
      const options = { connections: CONNECTIONS, workerdPid, loadPids }
      for (const row of measured) {
        console.error(`warm-up: ${row.id}`)
        await load(url(row), requestHeaders(row), { ...options, seconds: WARM_UP_SECONDS }, row.body)
      }
      loads = await interleaved(measured, 'load', async (row) => {
        const before = row.store ? await storeCalls(row) : null
        const sample = await load(url(row), requestHeaders(row), { ...options, seconds: SECONDS }, row.body)
        if (sample.workerd.threadsChanged) threadsChanged++
        const counted = leases.get(row.id)?.calls ?? slots.get(row.id)
        if (before && counted) {
          const after = await storeCalls(row)
          counted.push({
            calls: after.calls - before.calls,
            roundTrips: after.roundTrips - before.roundTrips,
            requests: sample.requests,
          })
        }
        return sample
      })
    }

    const latencies = SECTIONS.has('rest')
      ? await interleaved(measured, 'latency', (row) =>
          latencyAtRest(url(row), requestHeaders(row), LATENCY_REQUESTS, row.body),
        )
      : null

    // Bursts: 200 concurrent requests of one fresh invoker (a new client address each time).
    for (const row of limited) {
      for (let i = 0; i < BURSTS; i++) {
        const before = await storeCalls(row)
        await burst(
          `http://127.0.0.1:${ports[row.worker]}/burst/x`,
          { 'cf-connecting-ip': `198.18.${i}.${row.worker.length}` },
          BURST_SIZE,
        )
        const after = await storeCalls(row)
        leases.get(row.id)?.bursts.push(after.calls - before.calls)
      }
    }

    let cpu: CpuCase[] | null = null
    if (SECTIONS.has('cpu')) {
      console.error('CPU micro-benchmark…')
      const ids = new Set(measured.map((r) => r.id))
      cpu = await measureCpu(
        workerdPid,
        ports.cpu,
        CPU_CASES.filter((c) => ids.has(c.row)),
      )
    }

    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ${osType()} ${release()}; Node ${process.version}; ${(await run(workerdBin, ['--version'])).stdout.trim()}`
    const results: Results = {
      info: {
        startedAt,
        minutes: (Date.now() - started) / 60_000,
        machine,
        pinning,
        cpuSource,
        loadavg: { start: loadavgStart, end: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ') },
        rounds: ROUNDS,
        seconds: SECONDS,
        connections: CONNECTIONS,
        latencyRequests: LATENCY_REQUESTS,
        cpuIterations: CPU_ITERATIONS,
        partial: partial || null,
        threadsChanged,
      },
      rows: measured,
      loads,
      latencies: latencies as Map<string, Latency[]> | null,
      leases: limited.length > 0 ? leases : null,
      slots: slotted.length > 0 && loads ? slots : null,
      cpu,
      bundles: [bare, lean, honoJwt, gateway, deployed],
      startup,
      listeningMs,
    }
    // Every window's figures, for anyone who wants more than the medians and ranges.
    writeFileSync(
      join(OUT, 'samples.json'),
      JSON.stringify(
        { loads: loads && Object.fromEntries(loads), latencies: latencies && Object.fromEntries(latencies), cpu },
        null,
        1,
      ),
    )
    const report = render(results)
    const target = partial ? join(OUT, 'RESULTS.partial.md') : 'bench/RESULTS.md'
    writeFileSync(target, report)
    console.log(summary(results))
    console.log(`\nwrote ${target}${partial ? ' (a partial run leaves bench/RESULTS.md alone)' : ''}`)
  } finally {
    stopAll()
  }
}

async function measureCpu(pid: number, port: number, cases: { name: string; key: string }[]): Promise<CpuCase[]> {
  const call = async (key: string, n: number): Promise<void> => {
    const response = await fetch(`http://127.0.0.1:${port}/?case=${key}&n=${n}`)
    if (response.status !== 200) throw new Error(await response.text())
  }
  for (const c of cases) await call(c.key, 500)
  // Cases interleaved over the runs, so that drift in the machine's speed hits them alike.
  const runs = new Map<string, number[]>(cases.map((c) => [c.key, []]))
  for (let i = 0; i < CPU_RUNS; i++) {
    for (const c of cases) {
      const before = readCpu(pid)
      await call(c.key, CPU_ITERATIONS)
      runs.get(c.key)?.push(cpuBetween(before, readCpu(pid)).cpu / CPU_ITERATIONS)
    }
  }
  return cases.map((c) => ({ name: c.name, key: c.key, runs: runs.get(c.key) ?? [] }))
}

await main()
