/**
 * The gateway in real workerd for Node tests that need a real HTTP client outside the Worker (the
 * official MCP SDK client): the gateway bundled with esbuild as wrangler bundles it, served by
 * `workerd serve` on a loopback port, with the Durable Object store in memory. Starts in well
 * under a second (`wrangler dev` takes many), so a test file can have one of its own.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import type { CompiledPolicy } from '../../src/policy/types.ts'
import { WORKERD_BINARY } from './workerd-binary.ts'

/** As wrangler.toml: workerd refuses a date later than its own build. */
const COMPATIBILITY_DATE = '2026-11-01'

export interface WorkerdGateway {
  origin: string
  /** Every log line the gateway wrote (one JSON object per request). */
  logs(): Record<string, unknown>[]
  close(): Promise<void>
}

let bundled: Promise<string> | undefined

/** One bundle per test process: esbuild with the conditions wrangler uses for Workers. */
function bundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [resolve('test/worker/gateway-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    write: false,
    logLevel: 'silent',
  }).then((result) => (result.outputFiles[0] as { text: string }).text)
  return bundled
}

function capnp(port: number, bindings: Record<string, string>, storage: string): string {
  const texts = Object.entries(bindings)
    .map(([name, value]) => `    (name = "${name}", text = ${JSON.stringify(value)}),`)
    .join('\n')
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = .gateway),
    (name = "loopback", network = (allow = ["local"])),
    (name = "storage", disk = (path = ${JSON.stringify(storage)}, writable = true)),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "gateway") ],
);

const gateway :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "index.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  bindings = [
${texts}
    (name = "GATEWAY_STORE", durableObjectNamespace = "GatewayStoreObject"),
  ],
  durableObjectNamespaces = [ (className = "GatewayStoreObject", uniqueKey = "test-gateway-store", enableSql = true) ],
  # On disk (a fresh temporary directory): workerd's in-memory storage has no SQLite, which the
  # store's Durable Object needs.
  durableObjectStorage = (localDisk = "storage"),
  globalOutbound = "loopback",
);
`
}

export async function startWorkerdGateway(
  policy: CompiledPolicy,
  port: number,
  bindings: Record<string, string>,
): Promise<WorkerdGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'igw-workerd-'))
  writeFileSync(join(dir, 'index.js'), await bundle())
  mkdirSync(join(dir, 'storage'))
  writeFileSync(
    join(dir, 'config.capnp'),
    capnp(port, { ...bindings, TEST_POLICY: JSON.stringify(policy) }, join(dir, 'storage')),
  )
  const child = spawn(WORKERD_BINARY, ['serve', join(dir, 'config.capnp'), '--verbose'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Record<string, unknown>[] = []
  let output = ''
  const read = (data: Buffer): void => {
    output += data.toString()
    for (let newline = output.indexOf('\n'); newline >= 0; newline = output.indexOf('\n')) {
      const line = output.slice(0, newline)
      output = output.slice(newline + 1)
      const json = line.indexOf('{"request_id"')
      if (json >= 0) {
        try {
          lines.push(JSON.parse(line.slice(json)) as Record<string, unknown>)
        } catch {
          // not a log line of the gateway's
        }
      }
    }
  }
  child.stdout.on('data', read)
  child.stderr.on('data', read)
  const deadline = Date.now() + 20_000
  for (;;) {
    const open = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end()
        done(true)
      })
      socket.on('error', () => done(false))
    })
    if (open) break
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`workerd did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    logs: () => lines,
    async close() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      // workerd drains open connections (an SSE stream a client left open) for many seconds
      // after SIGTERM; a test's gateway has nothing worth waiting for.
      child.kill('SIGKILL')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
