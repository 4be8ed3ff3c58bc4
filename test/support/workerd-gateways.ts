/**
 * Real gateway processes for tests that need more than one isolate: the gateway bundled with a
 * given policy exactly as `wrangler deploy` bundles it, served by `workerd serve` processes from
 * generated Cap'n Proto configs (as bench/run.ts serves it).
 *
 * Each process lists its gateways; a gateway uses Upstash (given URL and token), or the Durable
 * Object store, either its own namespace (`store: 'own'`) or another gateway's in the same process
 * (`store: { shareWith: name }`): two workers are two isolates, addressing the same objects. Two
 * processes cannot share Durable Objects here: workerd keeps them in the memory (or on the disk)
 * of the one process that hosts the class.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { renderModule } from '../../src/cli/build-policies.ts'
import type { CompiledPolicy } from '../../src/policy/types.ts'
import { freePort } from './ports.ts'
import { WORKERD_BINARY } from './workerd-binary.ts'

const run = promisify(execFile)
const WORKERD: string = WORKERD_BINARY
const COMPATIBILITY_DATE = '2026-11-01'

export interface GatewaySpec {
  name: string
  bindings: Record<string, string>
  store?: 'own' | { shareWith: string }
}

export interface RunningGateways {
  /** Origin of each gateway by name. */
  origins: Record<string, string>
  /** Kills process `index` at once (SIGKILL: no cleanup of any kind), as a crashed host would. */
  kill(index: number): Promise<void>
  /** Starts process `index` again with the same configuration, ports and storage. */
  restart(index: number): Promise<void>
  stop(): Promise<void>
}

/** Bundles the gateway for `policy`, then starts one workerd process per entry of `processes`. */
export async function startWorkerdGateways(
  policy: CompiledPolicy,
  processes: GatewaySpec[][],
): Promise<RunningGateways> {
  const dir = mkdtempSync(join(tmpdir(), 'igw-gateways-'))
  const children: ChildProcess[] = []
  try {
    writeFileSync(
      join(dir, 'policy.gen.ts'),
      renderModule(policy).replace("from './types.ts'", `from '${resolve('src/policy/types.ts')}'`),
    )
    writeFileSync(
      join(dir, 'worker.ts'),
      `import { createGateway } from '${resolve('src/app.ts')}'\nimport { compiledPolicy } from './policy.gen.ts'\nexport default createGateway(compiledPolicy)\nexport { GatewayStoreObject } from '${resolve('src/store/durable-object-class.ts')}'\n`,
    )
    writeFileSync(
      join(dir, 'wrangler.toml'),
      `name = "igw-test"\nmain = "worker.ts"\ncompatibility_date = "${COMPATIBILITY_DATE}"\n`,
    )
    await run(
      resolve('node_modules/.bin/wrangler'),
      ['deploy', '--dry-run', '--outdir', join(dir, 'dist'), '--config', join(dir, 'wrangler.toml')],
      {
        // Wrangler needs Node 22: the one this package brings, first on PATH as under npm scripts.
        env: {
          ...process.env,
          WRANGLER_SEND_METRICS: 'false',
          PATH: `${resolve('node_modules/.bin')}:${process.env['PATH'] ?? ''}`,
        },
        cwd: dir,
      },
    )
    const output = readdirSync(join(dir, 'dist')).find((f) => f.endsWith('.js'))
    if (output === undefined) throw new Error('wrangler produced no bundle')
    renameSync(join(dir, 'dist', output), join(dir, 'gateway.js'))

    const origins: Record<string, string> = {}
    const configs: { config: string; ports: number[] }[] = []
    const launch = async (i: number): Promise<void> => {
      const { config, ports } = configs[i] as { config: string; ports: number[] }
      const verbose = Boolean(process.env['IGW_WORKERD_STDERR'])
      const child = spawn(WORKERD, ['serve', config], { stdio: ['ignore', verbose ? 'pipe' : 'ignore', 'pipe'] })
      // With IGW_WORKERD_STDERR set, the gateway's log lines that are not plain successes too.
      child.stdout?.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n'))
          if (line.includes('"store_error":{') || line.includes('"status":5')) process.stderr.write(`${line}\n`)
      })
      let stderr = ''
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000)
        if (process.env['IGW_WORKERD_STDERR']) process.stderr.write(d)
      })
      children[i] = child
      for (const port of ports) await waitForOrigin(`http://127.0.0.1:${port}`, child, () => stderr)
    }
    for (const [i, gateways] of processes.entries()) {
      const ports = await Promise.all(gateways.map(() => freePort()))
      gateways.forEach((g, j) => {
        origins[g.name] = `http://127.0.0.1:${ports[j] as number}`
      })
      const config = join(dir, `process-${i}.capnp`)
      for (const g of gateways) if (g.store === 'own') mkdirSync(join(dir, `${g.name}-storage`))
      writeFileSync(config, capnp(gateways, ports as number[], dir))
      configs.push({ config, ports: ports as number[] })
      await launch(i)
    }
    return {
      origins,
      async kill(index) {
        const child = children[index] as ChildProcess
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise<void>((r) => child.once('exit', () => r()))
        child.kill('SIGKILL')
        await exited
      },
      restart: (index) => launch(index),
      async stop() {
        await Promise.all(children.map(stopChild))
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await Promise.all(children.map(stopChild))
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

function capnp(gateways: GatewaySpec[], ports: number[], dir: string): string {
  const ident = (name: string): string => name.replace(/[^A-Za-z0-9]/g, '') + 'Worker'
  const services = gateways
    .map(
      (g) =>
        `    (name = "${g.name}", worker = .${ident(g.name)}),` +
        (g.store === 'own'
          ? `\n    (name = "${g.name}-storage", disk = (path = "${join(dir, `${g.name}-storage`)}", writable = true)),`
          : ''),
    )
    .join('\n')
  const sockets = gateways
    .map((g, i) => `    (name = "${g.name}", address = "127.0.0.1:${ports[i]}", http = (), service = "${g.name}"),`)
    .join('\n')
  const workers = gateways
    .map((g) => {
      const bindings = Object.entries(g.bindings).map(
        ([name, value]) => `    (name = "${name}", text = ${JSON.stringify(value)}),`,
      )
      let storage = ''
      if (g.store === 'own') {
        bindings.push('    (name = "GATEWAY_STORE", durableObjectNamespace = "GatewayStoreObject"),')
        // On disk (a fresh temporary directory): workerd's in-memory storage has no SQLite, so
        // with it `ctx.storage.kv` and `sql` fail and every store call would be an on_error.
        storage = `\n  durableObjectNamespaces = [ (className = "GatewayStoreObject", uniqueKey = "igw-test-${g.name}", enableSql = true) ],\n  durableObjectStorage = (localDisk = "${g.name}-storage"),`
      } else if (g.store !== undefined) {
        bindings.push(
          `    (name = "GATEWAY_STORE", durableObjectNamespace = (className = "GatewayStoreObject", serviceName = "${g.store.shareWith}")),`,
        )
      }
      return `const ${ident(g.name)} :Workerd.Worker = (
  modules = [ (name = "gateway.js", esModule = embed "gateway.js") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  compatibilityFlags = ["enable_request_signal"],
  bindings = [
${bindings.join('\n')}
  ],${storage}
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

${workers}
`
}

async function waitForOrigin(origin: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await (await fetch(`${origin}/.well-known/jwks.json`)).arrayBuffer()
      return
    } catch {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`workerd did not serve ${origin}:\n${stderr()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  return exited
}
