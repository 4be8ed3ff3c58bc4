/**
 * The metric data points through workerd's own Analytics Engine binding (issue 17, item 1).
 * miniflare's binding (what `wrangler dev` and the workerd test project bind) accepts points and
 * drops them unless a remote dataset is attached, so nothing it was given can be read back there
 * (test/worker/telemetry.test.ts reads the arguments instead). workerd's native binding
 * (`analyticsEngine = "<service>"`, behind `--experimental`) applies the runtime's own limits
 * (20 blobs, 16 KB of blobs, one index of 96 bytes: a point over them is dropped) and
 * sends each point it accepts, as the runtime encodes it, to a service: here a Node server that
 * records them. The gateway is bundled by `wrangler deploy --dry-run` and served by `workerd
 * serve` in front of a Node backend, as in the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { execFile } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { METRIC_BLOBS, METRIC_DOUBLES } from '../../src/metrics-layout.ts'
import { sha256Hex } from '../../src/keys/digest.ts'
import { generateApiKey } from '../../src/keys/api-key-format.ts'
import { compileYaml } from '../support/policy.ts'
import { freePort } from '../support/ports.ts'
import { testSigningKeys } from '../support/signing-keys.ts'
import { WORKERD_BINARY } from '../support/workerd-binary.ts'

/** A data point as workerd sends it: Cap'n Proto's JSON, blobs and the index as byte arrays. */
type Event = Record<string, unknown>

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'igw-ae-'))
const events: Event[] = []
let sink: Server
let backend: Server
let workerd: ChildProcess
let gatewayOrigin: string
const alice = generateApiKey()
const bob = generateApiKey()

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolveListen) => server.listen(port, '127.0.0.1', resolveListen))
}

beforeAll(async () => {
  const [sinkPort, backendPort, gatewayPort] = [await freePort(), await freePort(), await freePort()]
  sink = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    req.on('end', () => {
      events.push(JSON.parse(body) as Event)
      res.writeHead(200).end()
    })
  })
  backend = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
  })
  await listen(sink, sinkPort)
  await listen(backend, backendPort)

  const keyEntry = async (name: string, key: { key: string; keyId: string }) =>
    `  ${name}:\n    key_id: "${key.keyId}"\n    sha256: "${await sha256Hex(key.key)}"\n`
  const { policy } = compileYaml(
    {
      keys: `pack: keys\nupstream: http://127.0.0.1:${backendPort}\nmatch: { path_prefix: /packs/keys }\nauth: [api_key]\nallow: [{ api_key: alice }]\nagents:\n  ? ${'A'.repeat(20_000)}\n  : { path: /long/** }\n`,
    },
    `issuer: https://gateway.test\napi_keys:\n${await keyEntry('alice', alice)}${await keyEntry('bob', bob)}`,
  )
  writeFileSync(
    join(dir, 'entry.ts'),
    `import { createGateway } from ${JSON.stringify(resolve('src/app.ts'))}\nexport default createGateway(${JSON.stringify(policy)})\n`,
  )
  // Bundled as `wrangler deploy` bundles the Worker.
  writeFileSync(
    join(dir, 'wrangler.toml'),
    `name = "igw-ae-test"\nmain = "entry.ts"\ncompatibility_date = "2026-11-01"\n`,
  )
  await run(
    process.execPath,
    [
      resolve('node_modules/wrangler/bin/wrangler.js'),
      'deploy',
      '--dry-run',
      '--outdir',
      join(dir, 'dist'),
      '--config',
      join(dir, 'wrangler.toml'),
    ],
    {
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      timeout: 120_000,
    },
  )
  const signingKeys = JSON.stringify(await testSigningKeys())
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = .gateway),
    (name = "metrics", external = (address = "127.0.0.1:${sinkPort}", http = ())),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${gatewayPort}", http = (), service = "gateway") ],
);
const gateway :Workerd.Worker = (
  modules = [ (name = "entry.js", esModule = embed "dist/entry.js") ],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "INVOKER_SIGNING_KEYS", text = ${JSON.stringify(signingKeys)}),
    (name = "GATEWAY_METRICS", analyticsEngine = "metrics"),
  ],
  globalOutbound = "loopback",
);
`,
  )
  workerd = spawn(WORKERD_BINARY, ['serve', '--experimental', join(dir, 'config.capnp')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  gatewayOrigin = `http://127.0.0.1:${gatewayPort}`
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      await (await fetch(`${gatewayOrigin}/.well-known/jwks.json`)).arrayBuffer()
      break
    } catch {
      if (Date.now() > deadline) throw new Error('workerd did not start')
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  // The probe wrote a point of its own: wait for it, then start counting.
  while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  events.length = 0
}, 60_000)

afterAll(async () => {
  if (workerd?.exitCode === null) {
    const exited = new Promise((r) => workerd.once('exit', r))
    workerd.kill('SIGTERM')
    await exited
  }
  await Promise.all([sink, backend].map((server) => new Promise((r) => (server ? server.close(r) : r(undefined)))))
  rmSync(dir, { recursive: true, force: true })
})

const text = (bytes: unknown): string => (Array.isArray(bytes) ? Buffer.from(bytes as number[]).toString('utf8') : '')
const blob = (event: Event, name: (typeof METRIC_BLOBS)[number]): string =>
  text(event[`blob${METRIC_BLOBS.indexOf(name) + 1}`])
const double = (event: Event, name: (typeof METRIC_DOUBLES)[number]): unknown =>
  event[`double${METRIC_DOUBLES.indexOf(name) + 1}`]

/** Sends one request and returns the data point it wrote (workerd sends it after the response). */
async function pointOf(path: string, headers: Record<string, string> = {}): Promise<{ status: number; event: Event }> {
  const before = events.length
  const response = await fetch(gatewayOrigin + path, { headers })
  await response.arrayBuffer()
  const deadline = Date.now() + 5_000
  while (events.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  expect(events.length, `a data point for ${path}`).toBe(before + 1)
  return { status: response.status, event: events[before] as Event }
}

describe("workerd's Analytics Engine binding", () => {
  it('accepts and sends the point of an allowed request, with the layout the queries read', async () => {
    const { status, event } = await pointOf('/packs/keys/hello', { 'x-api-key': alice.key })
    expect(status).toBe(200)
    expect(text(event['dataset'])).toBe('metrics')
    expect(text(event['index1'])).toBe('keys')
    expect(METRIC_BLOBS.map((name) => blob(event, name))).toEqual([
      'keys',
      '',
      'allow',
      'allowed',
      'api_key',
      '2xx',
      'allow[0]',
      'apiKey',
      '',
      'alice',
      '',
    ])
    expect(double(event, 'status')).toBe(200)
    for (const name of ['duration_ms', 'upstream_ms', 'gateway_ms'] as const)
      expect(double(event, name), name).toBeGreaterThanOrEqual(0)
    expect(double(event, 'duration_ms')).toBe(
      (double(event, 'upstream_ms') as number) + (double(event, 'gateway_ms') as number),
    )
  })

  it('sends a refusal with the invoker digest', async () => {
    const { status, event } = await pointOf('/packs/keys/hello', { 'x-api-key': bob.key })
    expect(status).toBe(403)
    expect(blob(event, 'decision')).toBe('deny')
    expect(blob(event, 'invoker_digest')).toBe((await sha256Hex('apikey:bob')).slice(0, 16))
  })

  it('keeps a point whose agent name alone is over the 16 KB of blobs the runtime takes (cut to 128 characters)', async () => {
    const { status, event } = await pointOf(`/packs/keys/long/x`, { 'x-api-key': alice.key })
    expect(status).toBe(200)
    expect(blob(event, 'agent')).toBe('A'.repeat(128))
  })

  it('sends a point for a request no pack routes', async () => {
    const { status, event } = await pointOf('/nowhere')
    expect(status).toBe(404)
    expect(text(event['index1'])).toBe('')
    expect(blob(event, 'reason')).toBe('route_not_found')
  })
})
