/**
 * `npm run bench:verifier`: how long verifying one X-Invoker token takes in a backend, key cached
 * (the JWKS fetched once from a local server, as in production after the first request), in Node
 * with the built JS package and in Python with the Python package, beside the Ed25519 signature
 * check alone in each (the floor no verifier goes below). Budgets (issue 16): Node under 100 µs,
 * Python under 1 ms. Cases are interleaved round by round so that a busy machine slows them
 * alike; the report is the median round. Reports; never fails on a number. Tokens are made by the
 * gateway's own signing code with the conformance vectors' test key (EdDSA).
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { createInvokerVerifier, MemoryReplayCache } from '@invoker-gateway/verifier'
import { loadSigningKeys } from '../src/keys/signing-keys.ts'
import { invokerClaims, signInvokerToken } from '../src/pipeline/sign/invoker-jwt.ts'
import { PYTHON, pythonEnv } from '../test/support/python.ts'
import keysFile from '../test/vectors/keys.json' with { type: 'json' }

const ISSUER = 'https://gateway.bench'
const URL_ = 'http://127.0.0.1:9/agents/run'
const ROUNDS = 9
const PER_ROUND = 2_000
const WARM_UP = 500

const loaded = await loadSigningKeys(JSON.stringify({ keys: [keysFile.gateway.keys[0]] }))
if (!loaded.ok) throw new Error(loaded.problem)
const keys = loaded.keys
const jwks = JSON.stringify({ keys: keys.publicJwks })
const server = createServer((_, res) => res.end(jwks))
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`

const sign = (jti: string): Promise<string> =>
  signInvokerToken(
    invokerClaims({
      issuer: ISSUER,
      audience: 'crm',
      ttlSeconds: 3600,
      requestId: jti,
      invoker: { id: 'apikey:ci-bot', kind: 'apiKey', label: 'CI', meta: { org: 'acme', groups: ['a', 'b'] } },
      auth: { method: 'api_key', api_key: 'ci-bot' },
      method: 'POST',
      upstreamUrl: URL_,
      nowSeconds: Math.floor(Date.now() / 1000),
    }),
    keys,
  )

type Case = (i: number) => Promise<unknown>

/** Per case, the median over interleaved rounds of the mean µs per call. */
async function measure(cases: Record<string, Case>): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = {}
  for (const [name, run] of Object.entries(cases)) {
    samples[name] = []
    for (let i = 0; i < WARM_UP; i++) await run(i)
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of Object.entries(cases)) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < PER_ROUND; i++) await run(WARM_UP + r * PER_ROUND + i)
      samples[name]?.push(Number(process.hrtime.bigint() - start) / 1_000 / PER_ROUND)
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, s]) => [name, s.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)] as number]),
  )
}

const token = await sign('bench-1')
const headers = new Headers({ 'x-invoker': token })
const tokens = await Promise.all(Array.from({ length: WARM_UP + ROUNDS * PER_ROUND }, (_, i) => sign(`bench-${i}`)))
const plain = createInvokerVerifier({ jwksUrl, issuer: ISSUER, audience: 'crm' })
const withReplay = createInvokerVerifier({
  jwksUrl,
  issuer: ISSUER,
  audience: 'crm',
  replayCache: new MemoryReplayCache(),
})
// The floor: the Ed25519 signature check alone (WebCrypto, as jose does it), on the same token.
const [h, p, signature] = token.split('.') as [string, string, string]
const publicKey = await crypto.subtle.importKey('jwk', keys.publicJwks[0] as JsonWebKey, { name: 'Ed25519' }, false, [
  'verify',
])
const signingInput = new TextEncoder().encode(`${h}.${p}`)
const signatureBytes = Uint8Array.from(atob(signature.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))

const node = await measure({
  plain: () => plain.verify({ method: 'POST', url: URL_, headers }),
  replay: (i) =>
    withReplay.verify({ method: 'POST', url: URL_, headers: new Headers({ 'x-invoker': tokens[i] as string }) }),
  bare: () => crypto.subtle.verify('Ed25519', publicKey, signatureBytes, signingInput),
})

// Asynchronous: the JWKS server the Python verifier fetches from runs in this process.
const python = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
  const child = spawn(PYTHON, ['bench/verifier_bench.py', jwksUrl, token, URL_, ISSUER], { env: pythonEnv() })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.on('close', (status) => resolve({ status, stdout, stderr }))
  child.stdin.end(tokens.join('\n'))
})
server.close()
if (python.status !== 0) throw new Error(`the Python benchmark failed:\n${python.stderr}`)
const py = JSON.parse(python.stdout) as { plain: number; replay: number; bare: number; version: string }

const us = (n: number): string => `${n.toFixed(1)} µs`
const verdict = (n: number, budget: number): string => (n < budget ? `within ${budget} µs` : `over ${budget} µs`)
const nodeName = `Node ${process.versions.node}`
const pyName = `Python ${py.version}`
console.log(`Verifying one X-Invoker token (EdDSA), key cached: median of ${ROUNDS} interleaved rounds of ${PER_ROUND}

| | per token | budget |
|---|---|---|
| ${nodeName}, @invoker-gateway/verifier | ${us(node['plain'] as number)} | ${verdict(node['plain'] as number, 100)} |
| ${nodeName}, with MemoryReplayCache (a new token each time) | ${us(node['replay'] as number)} | ${verdict(node['replay'] as number, 100)} |
| ${nodeName}, the Ed25519 signature check alone (WebCrypto) | ${us(node['bare'] as number)} | floor |
| ${pyName}, invoker-gateway-verifier | ${us(py.plain)} | ${verdict(py.plain, 1000)} |
| ${pyName}, with MemoryReplayCache (a new token each time) | ${us(py.replay)} | ${verdict(py.replay, 1000)} |
| ${pyName}, the Ed25519 signature check alone (cryptography) | ${us(py.bare)} | floor |

Above the signature check: Node ${us((node['plain'] as number) - (node['bare'] as number))}, Python ${us(py.plain - py.bare)}.
Load average during the run: ${loadavg()
  .map((l) => l.toFixed(1))
  .join(', ')} on ${cpus().length} cores.`)
