/**
 * End to end: the gateway (bundled as `wrangler deploy` bundles it, served by `workerd serve`) in
 * front of three real backends that verify X-Invoker with the verifier packages: a Python one
 * (Starlette + InvokerMiddleware under uvicorn), a Node one (Express + the packed tarball's
 * adapter, CommonJS, on Node 20 where the system has it) and a Worker (Hono + the tarball's
 * adapter, in workerd). Each accepts the gateway's tokens and refuses forged, expired, replayed,
 * other-request, other-pack and missing ones with the right reason code. The Python backend runs
 * as two replicas sharing the README's Redis replay cache (its code block, run as it is, against a
 * real redis-server), so a token used at one is refused by the other.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { join, resolve } from 'node:path'
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { renderModule } from '../../src/cli/build-policies.ts'
import { generateApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { compilePolicies, formatError } from '../../src/policy/compiler/compile.ts'
import { freePort } from '../support/ports.ts'
import { PYTHON, pythonEnv } from '../support/python.ts'
import { RedisServer } from '../support/redis.ts'
import { testSigningKeys } from '../support/signing-keys.ts'
import { bundleWorker, consumerProject, nodeBinaries, serveWorkers } from '../support/verifier-package.ts'

const ISSUER = 'https://gateway.e2e.test'
/** Short, so that a token is seen to expire within the test; backends allow 1 s of clock skew. */
const TOKEN_TTL_S = 4
const TOLERANCE_S = 1
const BACKENDS = ['python', 'node', 'worker'] as const
type Backend = (typeof BACKENDS)[number]

let gateway: string
const origins = {} as Record<Backend, string>
let apiKey: string
const children: ChildProcess[] = []
let logs = ''
let redis: RedisServer | undefined
let replicaOrigin: string
let projectDir: string | undefined

interface Echo {
  backend: string
  x_invoker: string
  invoker: { id: string; kind: string }
  auth: Record<string, unknown>
  body_verified: boolean
  request_id: string
  method: string
  body_bytes: number
}

async function waitFor(url: string, child: ChildProcess | undefined, what: string): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      await fetch(url)
      return
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || (child && child.exitCode !== null)) throw new Error(`${what} did not start:\n${logs}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function start(command: string, args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): ChildProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()))
  children.push(child)
  return child
}

beforeAll(async () => {
  const [gatewayPort, pythonPort, nodePort, workerPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ])
  gateway = `http://127.0.0.1:${gatewayPort}`
  origins.python = `http://127.0.0.1:${pythonPort}`
  origins.node = `http://127.0.0.1:${nodePort}`
  origins.worker = `http://127.0.0.1:${workerPort}`
  const { dir } = await consumerProject(['express@^5', 'hono@^4'])
  projectDir = dir

  // The gateway: policies compiled by the real compiler, one pack per backend.
  const minted = generateApiKey()
  apiKey = minted.key
  const packs = BACKENDS.map((b) => ({
    path: `policies/${b}.yaml`,
    text: `pack: ${b}\nupstream: ${origins[b]}\nmatch: { path_prefix: /${b} }\nauth: [api_key]\n`,
  }))
  const compiled = compilePolicies({
    policies: [
      {
        path: 'policies/_gateway.yaml',
        text: `issuer: ${ISSUER}\ntoken_ttl: ${TOKEN_TTL_S}s\napi_keys:\n  e2e:\n    key_id: "${minted.keyId}"\n    sha256: "${await sha256Hex(minted.key)}"\n`,
      },
      ...packs,
    ],
    env: {},
  })
  if (!compiled.ok) throw new Error(compiled.errors.map(formatError).join('\n'))
  const gatewayDir = join(dir, 'gateway')
  mkdirSync(gatewayDir)
  writeFileSync(
    join(gatewayDir, 'policy.gen.ts'),
    renderModule(compiled.policy).replace("from './types.ts'", `from '${resolve('src/policy/types.ts')}'`),
  )
  writeFileSync(
    join(gatewayDir, 'index.ts'),
    `import { createGateway } from '${resolve('src/app.ts')}'\nimport { compiledPolicy } from './policy.gen.ts'\nexport default createGateway(compiledPolicy)\nexport { GatewayStoreObject } from '${resolve('src/store/durable-object-class.ts')}'\n`,
  )
  copyFileSync(resolve('test/e2e/backends/hono-worker.mjs'), join(dir, 'hono-worker.mjs'))
  const [gatewayBundle, workerBundle] = await Promise.all([
    bundleWorker(gatewayDir, 'gateway', join(gatewayDir, 'index.ts')),
    bundleWorker(dir, 'hono-backend', join(dir, 'hono-worker.mjs')),
  ])
  const backendEnv = { JWKS_URL: `${gateway}/.well-known/jwks.json`, ISSUER, CLOCK_TOLERANCE: String(TOLERANCE_S) }
  const workerd = await serveWorkers(join(dir, 'workerd'), [
    {
      name: 'gateway',
      bundle: gatewayBundle,
      port: gatewayPort,
      bindings: { INVOKER_SIGNING_KEYS: JSON.stringify(await testSigningKeys()) },
    },
    { name: 'hono-backend', bundle: workerBundle, port: workerPort, bindings: { ...backendEnv, AUDIENCE: 'worker' } },
  ])
  children.push(workerd)

  // Two Python replicas (the gateway forwards to the first) sharing the README's Redis replay cache.
  redis = await RedisServer.start()
  const readme = readFileSync('README.md', 'utf8')
  const block = [...readme.matchAll(/```python\n([\s\S]*?)```/g)]
    .map((m) => m[1] as string)
    .find((code) => code.includes('class RedisReplayCache'))
  if (!block) throw new Error('README.md has no Python Redis replay cache example')
  writeFileSync(join(dir, 'readme_replay.py'), block)
  const replicaPort = await freePort()
  replicaOrigin = `http://127.0.0.1:${replicaPort}`
  const pythonBackend = (port: number, extra: Record<string, string>): ChildProcess =>
    start(
      PYTHON,
      [
        '-m',
        'uvicorn',
        'starlette_app:app',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--app-dir',
        'test/e2e/backends',
        '--log-level',
        'warning',
      ],
      {
        env: pythonEnv({
          ...backendEnv,
          AUDIENCE: 'python',
          REDIS_URL: `redis://127.0.0.1:${redis?.port}`,
          PYTHONPATH: `packages/verifier-python/src:${dir}`,
          ...extra,
        }),
      },
    )
  const python = pythonBackend(pythonPort, {})
  const replica = pythonBackend(replicaPort, { REWRITE_FROM: replicaOrigin, REWRITE_TO: origins.python })
  copyFileSync(resolve('test/e2e/backends/express-backend.cjs'), join(dir, 'express-backend.cjs'))
  const node = nodeBinaries().at(-1) as { path: string }
  const express = start(node.path, ['express-backend.cjs'], {
    cwd: dir,
    env: { ...process.env, ...backendEnv, AUDIENCE: 'node', PORT: String(nodePort) },
  })
  await Promise.all([
    waitFor(origins.python, python, 'the Python backend'),
    waitFor(replicaOrigin, replica, 'the Python replica'),
    waitFor(origins.node, express, 'the Node backend'),
    waitFor(`${gateway}/.well-known/jwks.json`, undefined, 'the gateway'),
  ])
}, 300_000)

afterAll(async () => {
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined
      child.kill('SIGTERM')
      return new Promise((r) => child.once('exit', r))
    }),
  )
  await redis?.stop()
  if (projectDir) rmSync(projectDir, { recursive: true, force: true })
})

async function viaGateway(
  backend: Backend,
  path = '/hello?x=1',
  init: RequestInit = {},
): Promise<{ response: Response; echo: Echo }> {
  const response = await fetch(`${gateway}/${backend}${path}`, {
    ...init,
    headers: { 'x-api-key': apiKey, ...(init.headers as Record<string, string>) },
  })
  const text = await response.text()
  expect(response.status, `${text}\n${logs}`).toBe(200)
  return { response, echo: JSON.parse(text) as Echo }
}

async function direct(
  backend: Backend,
  path: string,
  token: string | null,
  method = 'GET',
): Promise<{ status: number; reason: string; type: string | null }> {
  const response = await fetch(`${origins[backend]}${path}`, {
    method,
    headers: token === null ? {} : { 'x-invoker': token },
  })
  const body = (await response.json()) as { reason?: string; detail?: { reason?: string } }
  return { status: response.status, reason: body.reason ?? 'accepted', type: response.headers.get('content-type') }
}

describe.each(BACKENDS)('the %s backend', (backend) => {
  it("accepts the gateway's token and sees the invoker, the auth facts and the request id", async () => {
    const { response, echo } = await viaGateway(backend)
    expect(echo.backend).toBe(backend)
    expect(echo.invoker).toMatchObject({ id: 'apikey:e2e', kind: 'apiKey' })
    expect(echo.auth).toEqual({ method: 'api_key', api_key: 'e2e' })
    expect(echo.body_verified).toBe(true)
    expect(echo.request_id).toBe(response.headers.get('x-request-id'))
  })

  it('accepts a POST with a body', async () => {
    const { echo } = await viaGateway(backend, '/orders', {
      method: 'POST',
      body: 'x'.repeat(1000),
      headers: { 'content-type': 'text/plain' },
    })
    expect(echo.method).toBe('POST')
    expect(echo.body_bytes).toBe(1000)
  })

  it('accepts a path the gateway had to normalise: it forwards exactly the path in htu', async () => {
    // Sent as written (fetch would resolve the dot segments itself): dot segments raw and encoded,
    // an escaped unreserved character, a lower-case escape, a double slash, a trailing slash.
    const written = `/${backend}/skip/%2e%2e/a/../%7Euser/caf%c3%a9/./x%2Dy//z/?q=%41`
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${gateway}/`, { path: written, headers: { 'x-api-key': apiKey } }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: body }))
      })
      req.on('error', reject)
      req.end()
    })
    expect(status, `${text}\n${logs}`).toBe(200)
    const echo = JSON.parse(text) as Echo
    expect(echo.backend).toBe(backend)
    // The pack strips its prefix; the rest is the normalised path, byte for byte what the backend received.
    expect(decodeJwt(echo.x_invoker).htu).toBe(`${origins[backend]}/~user/caf%C3%A9/x-y/z/`)
  })

  it('refuses the same token a second time (replayed)', async () => {
    const { echo } = await viaGateway(backend, '/hello')
    expect(await direct(backend, '/hello', echo.x_invoker)).toMatchObject({
      status: 401,
      reason: 'replayed',
      type: 'application/problem+json',
    })
  })

  it('refuses a token minted for another request (wrong_request)', async () => {
    const { echo } = await viaGateway(backend, '/hello')
    expect(await direct(backend, '/admin', echo.x_invoker)).toMatchObject({ status: 401, reason: 'wrong_request' })
    expect(await direct(backend, '/hello', echo.x_invoker, 'DELETE')).toMatchObject({
      status: 401,
      reason: 'wrong_request',
    })
  })

  it("refuses a token minted for another pack's backend (audience)", async () => {
    const other = BACKENDS[(BACKENDS.indexOf(backend) + 1) % BACKENDS.length] as Backend
    const { echo } = await viaGateway(other, '/hello')
    expect(await direct(backend, '/hello', echo.x_invoker)).toMatchObject({ status: 401, reason: 'audience' })
  })

  it("refuses a forged token under the gateway's key id (signature)", async () => {
    const { echo } = await viaGateway(backend, '/hello')
    const { kid } = decodeProtectedHeader(echo.x_invoker)
    const claims = decodeJwt(echo.x_invoker)
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const forged = await new SignJWT({ ...claims, jti: crypto.randomUUID(), htu: `${origins[backend]}/hello` })
      .setProtectedHeader({ alg: 'EdDSA', kid: kid as string, typ: 'invoker+jwt' })
      .sign(privateKey)
    expect(await direct(backend, '/hello', forged)).toMatchObject({ status: 401, reason: 'signature' })
  })

  it('refuses a request without the header (missing)', async () => {
    expect(await direct(backend, '/hello', null)).toMatchObject({ status: 401, reason: 'missing' })
  })
})

describe('replay protection across processes', () => {
  it("a token used at one Python replica is refused by the other (the README's Redis replay cache)", async () => {
    const { echo } = await viaGateway('python', '/shared')
    const atReplica = async (path: string): Promise<string> => {
      const response = await fetch(`${replicaOrigin}${path}`, { headers: { 'x-invoker': echo.x_invoker } })
      return ((await response.json()) as { reason?: string }).reason ?? 'accepted'
    }
    // Every other check passes at the replica (its URL rewrite maps it onto the gateway's upstream):
    // only the shared cache can refuse it.
    expect(await atReplica('/shared')).toBe('replayed')
    expect(await atReplica('/other')).toBe('wrong_request')
  })
})

describe('expiry', () => {
  it('every backend refuses a token once its exp (+ the clock tolerance) has passed (expired)', async () => {
    const captured = await Promise.all(BACKENDS.map(async (b) => (await viaGateway(b, '/late')).echo.x_invoker))
    const exp = Math.max(...captured.map((t) => decodeJwt(t).exp as number))
    await new Promise((r) => setTimeout(r, Math.max(0, (exp + TOLERANCE_S) * 1000 - Date.now()) + 1100))
    for (const [i, backend] of BACKENDS.entries()) {
      // Lifetime is checked before the request binding and the replay cache (whose answer this would also be).
      expect(await direct(backend, '/late', captured[i] as string, 'GET'), backend).toMatchObject({
        status: 401,
        reason: 'expired',
      })
    }
  }, 30_000)
})
