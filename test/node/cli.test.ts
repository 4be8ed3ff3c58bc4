/** The CLI, run as a user runs it: a separate Node process on the TypeScript sources. */
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT, importJWK, type JWK } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { createPublicKey } from 'node:crypto'
import { createVerifier, httpbis } from 'http-message-signatures'
import { parseApiKey, sha256Hex } from '../../src/keys/api-key-format.ts'
import { compileYaml } from '../support/policy.ts'

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['src/cli/main.ts', ...args], { encoding: 'utf8' })
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr }
}

/** For commands that talk to a server in this process (spawnSync would block it). */
function cliAsync(...args: string[]): Promise<number> {
  return cliAsyncOutput(...args).then((r) => r.status)
}

function cliAsyncOutput(...args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ status: code ?? -1, stderr }))
  })
}

const servers: Server[] = []
afterAll(() => {
  for (const s of servers) s.close()
})

describe('invoker-gateway CLI', () => {
  it('keys create: prints the key once on stdout and only its hash in the policy entry', async () => {
    const run = cli('keys', 'create', '--name', 'ci-bot', '--packs', 'echo,crm', '--expires', '2030-01-01')
    expect(run.status).toBe(0)
    const key = run.stdout.trim()
    const parsed = parseApiKey(key)
    expect(parsed).not.toBeNull()
    expect(run.stderr).toContain(`key_id: "${parsed?.keyId}"`)
    expect(run.stderr).toContain(`sha256: "${await sha256Hex(key)}"`)
    expect(run.stderr).toContain('packs: [echo, crm]')
    expect(run.stderr).not.toContain(key)
  })

  it('keys create: refuses a bad name', () => {
    expect(cli('keys', 'create', '--name', 'Bad Name').status).toBe(1)
  })

  it('check: validates policies and runs the fixtures', () => {
    const run = cli('check')
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/4 pack\(s\) valid; fixtures: \d+ passed, 0 failed/)
  })

  it('check and build: fail with file:line:col on a broken policy, and a failing fixture fails check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'igw-policies-'))
    cpSync('policies', dir, { recursive: true })
    writeFileSync(join(dir, 'echo.yaml'), readFileSync(join(dir, 'echo.yaml'), 'utf8') + 'anonymus: allow\n')
    for (const command of ['check', 'build']) {
      const run = cli(command, '--policies', dir, '--out', join(dir, 'out.ts'))
      expect(run.status).toBe(1)
      expect(run.stderr).toMatch(/echo\.yaml:\d+:1: unknown key "anonymus"/)
    }
    cpSync('policies/echo.yaml', join(dir, 'echo.yaml'))
    writeFileSync(
      join(dir, 'tests', 'wrong.yaml'),
      '- name: wrong on purpose\n  request: { url: "http://h/packs/echo/x" }\n  invoker: { anonymous: true }\n  expect: { decision: allow }\n',
    )
    const run = cli('check', '--policies', dir)
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('wrong on purpose')
    expect(run.stderr).toContain('decision: expected allow, got unauthenticated')
  })

  it('explain: prints the decision and the rule behind it', () => {
    const run = cli(
      'explain',
      '--method',
      'POST',
      '--url',
      'http://127.0.0.1:8787/packs/crm/agents/InternalCRMQuery/run',
      '--api-key',
      'demo-bob',
    )
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      decision: 'deny',
      status: 403,
      pack: 'crm',
      agent: 'InternalCRMQuery',
      reason: 'denied',
    })
    const allowed = JSON.parse(
      cli('explain', '--url', 'http://127.0.0.1:8787/packs/crm/agents/InternalCRMQuery/run', '--api-key', 'demo-alice')
        .stdout,
    )
    expect(allowed).toMatchObject({ decision: 'allow', rule: 'agents.InternalCRMQuery.allow[0]' })
  })

  it('signing-keys generate: a usable set, and rotation keeps the previous key second', async () => {
    const first = cli('signing-keys', 'generate')
    expect(first.status).toBe(0)
    const set = JSON.parse(first.stdout) as { keys: JWK[] }
    expect(set.keys).toHaveLength(1)
    expect(set.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' })
    expect(set.keys[0]?.d).toBeDefined()
    const dir = mkdtempSync(join(tmpdir(), 'igw-keys-'))
    writeFileSync(join(dir, 'current.json'), first.stdout)
    const rotated = JSON.parse(
      cli('signing-keys', 'generate', '--alg', 'ES256', '--previous', join(dir, 'current.json')).stdout,
    ) as { keys: JWK[] }
    expect(rotated.keys.map((k) => k.alg)).toEqual(['ES256', 'EdDSA'])
    expect(rotated.keys[1]).toEqual(set.keys[0])
  })

  it('decode: shows the claims and, with --jwks, verifies them', async () => {
    const set = JSON.parse(cli('signing-keys', 'generate').stdout) as { keys: (JWK & { kid: string })[] }
    const jwk = set.keys[0] as JWK & { kid: string }
    const { d: _private, ...publicJwk } = jwk
    const server = createServer((_, res) => res.end(JSON.stringify({ keys: [publicJwk] })))
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
    const now = Math.floor(Date.now() / 1000)
    const token = await new SignJWT({
      invoker: { id: 'u1', kind: 'apiKey', meta: {} },
      auth: { method: 'api_key' },
      htm: 'GET',
      htu: 'http://b/x',
    })
      .setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid, typ: 'invoker+jwt' })
      .setIssuer('https://gw')
      .setAudience('echo')
      .setSubject('u1')
      .setJti('r1')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await importJWK(jwk, 'EdDSA'))
    const decoded = cli('decode', token)
    expect(decoded.status).toBe(0)
    expect(JSON.parse(decoded.stdout)).toMatchObject({
      header: { typ: 'invoker+jwt' },
      claims: { sub: 'u1', aud: 'echo' },
    })
    expect(await cliAsync('decode', token, '--jwks', jwksUrl, '--issuer', 'https://gw', '--audience', 'echo')).toBe(0)
    // A refusal prints the verifier's reason code, the one a backend gets.
    expect(
      await cliAsyncOutput('decode', token, '--jwks', jwksUrl, '--issuer', 'https://gw', '--audience', 'crm'),
    ).toMatchObject({ status: 1, stderr: expect.stringContaining('(reason: audience)') })
    expect(
      await cliAsyncOutput('decode', token, '--jwks', jwksUrl, '--issuer', 'https://other', '--audience', 'echo'),
    ).toMatchObject({ status: 1, stderr: expect.stringContaining('(reason: issuer)') })
    expect(
      await cliAsyncOutput(
        'decode',
        token,
        '--jwks',
        jwksUrl,
        '--issuer',
        'https://gw',
        '--audience',
        'echo',
        '--method',
        'GET',
        '--url',
        'http://b/y',
      ),
    ).toMatchObject({ status: 1, stderr: expect.stringContaining('(reason: wrong_request)') })
    expect(await cliAsyncOutput('decode', 'not-a-token')).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('(reason: malformed)'),
    })
  })

  it.each(['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'rsa-v1_5-sha256'])(
    'signers generate + sign (%s): the entry compiles and an independent verifier accepts the signature',
    async (alg) => {
      const dir = mkdtempSync(join(tmpdir(), 'igw-signer-'))
      const keyFile = join(dir, 'signer.json')
      const generated = cli(
        'signers',
        'generate',
        '--name',
        'chat-host',
        '--alg',
        alg,
        '--key-out',
        keyFile,
        '--delegate',
      )
      expect(generated.status, generated.stderr).toBe(0)
      const entry = generated.stdout.split('\n').slice(1).join('\n')
      const { policy } = compileYaml({}, `issuer: https://gateway.test\nsigners:\n${entry}\n`)
      expect(policy.signers['chat-host']).toMatchObject({ algorithm: alg, delegate: true })
      const signed = cli(
        'sign',
        'https://gw.example/packs/x/run?q=1',
        '--key',
        keyFile,
        '-X',
        'POST',
        '-d',
        '{"a":1}',
        '--on-behalf-of',
        'alice',
      )
      expect(signed.status, signed.stderr).toBe(0)
      const headers = Object.fromEntries(
        signed.stdout
          .trim()
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
      )
      expect(headers['signature-input']).toMatch(
        /^sig1=\("@method" "@authority" "@path" "@query" "content-digest" "on-behalf-of"\);created=\d+;expires=\d+;nonce="[^"]+";keyid="chat-host-[\d-]+";alg="/,
      )
      const publicKey = createPublicKey({ key: policy.signers['chat-host']?.jwk as never, format: 'jwk' })
      const verified = await httpbis.verifyMessage(
        {
          keyLookup: async () => ({
            id: policy.signers['chat-host']?.keyId,
            algs: [alg],
            verify: createVerifier(publicKey, alg),
          }),
        },
        { method: 'POST', url: 'https://gw.example/packs/x/run?q=1', headers },
      )
      expect(verified).toBe(true)
    },
  )
})
