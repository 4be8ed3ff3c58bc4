/**
 * The verifier package as a backend gets it: `npm pack` of packages/verifier (already built by
 * `npm test`'s typecheck step; packing does not rebuild, so a test never rewrites dist/ under
 * another test's feet), installed from the tarball into a fresh project outside the repository,
 * and Workers bundled by wrangler and served by `workerd serve`, as bench/run.ts does.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import { WORKERD_BINARY } from './workerd-binary.ts'

const run = promisify(execFile)
export const PACKAGE_DIR = resolve('packages/verifier')
/** workerd refuses a date later than its own build (as in wrangler.toml). */
export const COMPATIBILITY_DATE = '2026-11-01'

/** Packs the built package into `dir`; returns the tarball's path. */
export async function packVerifier(dir: string): Promise<string> {
  if (!existsSync(join(PACKAGE_DIR, 'dist/esm/index.js')) || !existsSync(join(PACKAGE_DIR, 'dist/cjs/index.js'))) {
    throw new Error('packages/verifier is not built: run `npm run build:verifier` (npm test does)')
  }
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: PACKAGE_DIR,
  })
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[]
  if (!packed) throw new Error('npm pack printed nothing')
  return join(dir, packed.filename)
}

/**
 * A new npm project in a temporary folder with the tarball and `extra` packages installed from
 * the registry (the npm cache holds them after the repository's own install).
 */
export async function consumerProject(extra: string[] = []): Promise<{ dir: string; tarball: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'igw-consumer-'))
  const tarball = await packVerifier(dir)
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'verifier-consumer', version: '1.0.0', private: true }, null, 2),
  )
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...extra], {
    cwd: dir,
    timeout: 240_000,
  })
  return { dir, tarball }
}

/** Node binaries to run the package on: this process's (22) and the system's 20, when there is one. */
export function nodeBinaries(): { label: string; path: string }[] {
  const found = [{ label: `Node ${process.versions.node}`, path: process.execPath }]
  for (const candidate of [process.env['NODE20'], '/usr/bin/node', '/usr/local/bin/node']) {
    if (!candidate || !existsSync(candidate)) continue
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout.trim()
    if (version.startsWith('v20.')) {
      found.push({ label: `Node ${version.slice(1)}`, path: candidate })
      break
    }
  }
  return found
}

/** Bundles a Worker entry as `wrangler deploy` would; returns the bundle's path. */
export async function bundleWorker(dir: string, name: string, entry: string): Promise<string> {
  const out = join(dir, `${name}-dist`)
  const config = join(dir, `${name}.wrangler.toml`)
  writeFileSync(config, `name = "${name}"\nmain = "${entry}"\ncompatibility_date = "${COMPATIBILITY_DATE}"\n`)
  await run(resolve('node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', out, '--config', config], {
    cwd: dir,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    timeout: 120_000,
  })
  const output = readdirSync(out).find((f) => f.endsWith('.js'))
  if (!output) throw new Error(`wrangler produced no bundle for ${name}`)
  return join(out, output)
}

export interface WorkerService {
  name: string
  bundle: string
  port: number
  bindings?: Record<string, string>
}

/**
 * Serves Workers from one `workerd serve`, each on its own loopback port, with outbound
 * requests allowed to loopback only. Resolves once every port accepts connections.
 */
export async function serveWorkers(dir: string, workers: WorkerService[]): Promise<ChildProcess> {
  const name = (w: WorkerService): string => w.name.replace(/[^a-zA-Z0-9]/g, '') + 'Worker'
  const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
${workers.map((w) => `    (name = "${w.name}", worker = .${name(w)}),`).join('\n')}
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [
${workers.map((w) => `    (name = "${w.name}", address = "127.0.0.1:${w.port}", http = (), service = "${w.name}"),`).join('\n')}
  ],
);

${workers
  .map(
    (w) => `const ${name(w)} :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "${relative(dir, w.bundle)}") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  bindings = [
${Object.entries(w.bindings ?? {})
  .map(([k, v]) => `    (name = "${k}", text = ${JSON.stringify(v)}),`)
  .join('\n')}
  ],
  globalOutbound = "loopback",
);`,
  )
  .join('\n\n')}
`
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'workerd.capnp')
  writeFileSync(file, config)
  const child = spawn(WORKERD_BINARY, ['serve', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let errors = ''
  child.stderr?.on('data', (d: Buffer) => (errors += d.toString()))
  const deadline = Date.now() + 30_000
  for (const w of workers) {
    for (;;) {
      const open = await new Promise<boolean>((r) => {
        const socket = connect(w.port, '127.0.0.1', () => {
          socket.end()
          r(true)
        })
        socket.on('error', () => r(false))
      })
      if (open) break
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill()
        throw new Error(`workerd did not serve ${w.name}:\n${errors}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return child
}

export const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T
