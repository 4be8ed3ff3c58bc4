/**
 * The verifier package installs and works where backends run: packed with `npm pack`, installed
 * from the tarball into a fresh project, then the conformance vectors run in Node 22 and the
 * system's Node 20, as an ES module and as CommonJS; TypeScript resolves its types in both module
 * systems; and a Worker that imports it (bundled by wrangler, no nodejs_compat) runs the vectors
 * in workerd. Deno and Bun are not installed here: the package gives them the same standard ESM
 * entry (no `node:` imports), which this test does not run.
 */
import { execFile, type ChildProcess } from 'node:child_process'
import { copyFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../support/ports.ts'
import { bundleWorker, consumerProject, nodeBinaries, readJson, serveWorkers } from '../support/verifier-package.ts'

const run = promisify(execFile)
let dir: string
let workerd: ChildProcess | undefined

beforeAll(async () => {
  ;({ dir } = await consumerProject())
  copyFileSync(resolve('test/vectors/run-vectors.mjs'), join(dir, 'run-vectors.mjs'))
  copyFileSync(resolve('test/vectors/x-invoker.json'), join(dir, 'x-invoker.json'))
  writeFileSync(
    join(dir, 'esm.mjs'),
    `import * as lib from '@invoker-gateway/verifier'
import { requireInvoker as express } from '@invoker-gateway/verifier/express'
import { requireInvoker as hono } from '@invoker-gateway/verifier/hono'
import { readFileSync } from 'node:fs'
import { runVectors } from './run-vectors.mjs'
if (typeof express !== 'function' || typeof hono !== 'function') throw new Error('adapters missing')
console.log(JSON.stringify(await runVectors(lib, JSON.parse(readFileSync('x-invoker.json', 'utf8')))))
`,
  )
  writeFileSync(
    join(dir, 'cjs.cjs'),
    `const lib = require('@invoker-gateway/verifier')
const { requireInvoker } = require('@invoker-gateway/verifier/express')
if (typeof requireInvoker !== 'function') throw new Error('adapter missing')
if (!require.resolve('@invoker-gateway/verifier').includes('/dist/cjs/')) throw new Error('require did not pick the CommonJS build')
import('./run-vectors.mjs').then(async ({ runVectors }) => console.log(JSON.stringify(await runVectors(lib, require('./x-invoker.json')))))
`,
  )
}, 300_000)

afterAll(async () => {
  if (workerd && workerd.exitCode === null) {
    workerd.kill('SIGTERM')
    await new Promise((r) => workerd?.once('exit', r))
  }
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the packed tarball', () => {
  it('holds the built package only, with jose its one dependency', async () => {
    const manifest = readJson<{
      dependencies: Record<string, string>
      version: string
      exports: Record<string, unknown>
    }>(join(dir, 'node_modules/@invoker-gateway/verifier/package.json'))
    expect(Object.keys(manifest.dependencies)).toEqual(['jose'])
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+$/)
    const { stdout } = await run('tar', [
      '-tzf',
      join(dir, (await run('sh', ['-c', 'ls *.tgz'], { cwd: dir })).stdout.trim()),
    ])
    const files = stdout.trim().split('\n')
    expect(files).toContain('package/README.md')
    expect(files).toContain('package/dist/esm/index.d.ts')
    expect(files).toContain('package/dist/cjs/index.d.ts')
    expect(files.filter((f) => !/^package\/(dist\/|README\.md$|package\.json$)/.test(f))).toEqual([])
    expect(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false)
  })

  it('imports nothing from node: (it must run in Workers, Deno and Bun as it is)', async () => {
    const { stdout } = await run('grep', [
      '-rlE',
      `from ['"]node:|require\\(['"]node:`,
      join(dir, 'node_modules/@invoker-gateway/verifier/dist'),
    ]).catch((e: { stdout: string }) => e)
    expect(stdout.trim()).toBe('')
  })

  for (const node of nodeBinaries()) {
    for (const [kind, file] of [
      ['ES module', 'esm.mjs'],
      ['CommonJS', 'cjs.cjs'],
    ] as const) {
      it(`${node.label}, ${kind}: gives every vector its expected result`, async () => {
        const { stdout, stderr } = await run(node.path, [file], { cwd: dir })
        const result = JSON.parse(stdout) as { total: number; failures: unknown[] }
        expect(result.failures).toEqual([])
        expect(result.total).toBeGreaterThan(40)
        expect(stderr).not.toMatch(/warning/i)
      })
    }
  }

  it('has a Node 20 to test on (the system node)', () => {
    expect(
      nodeBinaries()
        .map((n) => n.label)
        .some((l) => l.startsWith('Node 20.')),
    ).toBe(true)
  })

  it('TypeScript finds its types from an ES module and from CommonJS (module: nodenext)', async () => {
    writeFileSync(
      join(dir, 'types.mts'),
      `import { createInvokerVerifier, type VerifiedInvoker, type ReasonCode } from '@invoker-gateway/verifier'
import { requireInvoker } from '@invoker-gateway/verifier/express'
const v = createInvokerVerifier({ jwksUrl: 'https://gw/.well-known/jwks.json', issuer: 'https://gw', audience: 'crm' })
export const check = async (r: Request): Promise<string> => { const x: VerifiedInvoker = await v.verify(r); const code: ReasonCode = 'expired'; return x.invoker.id + code }
export const mw = requireInvoker({ jwksUrl: 'https://gw/jwks', issuer: 'https://gw', audience: 'crm' })
`,
    )
    writeFileSync(
      join(dir, 'types.cts'),
      `import verifier = require('@invoker-gateway/verifier')
const v = verifier.createInvokerVerifier({ jwks: { keys: [] }, issuer: 'https://gw', audience: ['crm'], replayCache: new verifier.MemoryReplayCache() })
export = v
`,
    )
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['types.mts', 'types.cts'],
      }),
    )
    const result = await run(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', dir]).catch(
      (e: { stdout: string }) => e,
    )
    expect(result.stdout).toBe('')
  })

  it('runs in a Worker (workerd, bundled by wrangler, without nodejs_compat): every vector', async () => {
    writeFileSync(
      join(dir, 'worker.mjs'),
      `import * as lib from '@invoker-gateway/verifier'
import { runVectors } from './run-vectors.mjs'
import vectors from './x-invoker.json'
export default { async fetch() { return Response.json(await runVectors(lib, vectors)) } }
`,
    )
    const bundle = await bundleWorker(dir, 'vectors', join(dir, 'worker.mjs'))
    const port = await freePort()
    workerd = await serveWorkers(join(dir, 'workerd'), [{ name: 'vectors', bundle, port }])
    const result = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { total: number; failures: unknown[] }
    expect(result.failures).toEqual([])
    expect(result.total).toBeGreaterThan(40)
  })
})
