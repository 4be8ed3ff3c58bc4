/**
 * Key management without footguns, through the CLI as a user runs it: private keys land outside
 * the repository (or where git ignores them), signing-key rotation needs no old private key, and
 * a key that could never work is refused before it exists.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { compileYaml } from '../support/policy.ts'

interface Run {
  status: number
  stdout: string
  stderr: string
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Run {
  const run = spawnSync(process.execPath, [join(process.cwd(), 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, ...env },
  })
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr }
}

/** For commands that talk to a server in this process (spawnSync would block it). */
function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }))
  })
}

const servers: Server[] = []
afterAll(() => {
  for (const s of servers) s.close()
})

async function serve(
  handler: (path: string) => { status: number; body: string },
): Promise<{ origin: string; hits: string[] }> {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`)
    const { status, body } = handler(req.url ?? '/')
    res.writeHead(status, { 'content-type': 'application/json' }).end(body)
  })
  servers.push(server)
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

const mode = (path: string): number => statSync(path).mode & 0o777

describe('signers generate: where the private key goes', () => {
  it('writes it outside the repository by default (0600 in a 0700 folder), says where, and never overwrites it', () => {
    const home = mkdtempSync(join(tmpdir(), 'igw-home-'))
    const env = { HOME: home, XDG_CONFIG_HOME: '' }
    const run = cli(['signers', 'generate', '--name', 'chat-host'], env)
    expect(run.status, run.stderr).toBe(0)
    const file = join(home, '.config', 'invoker-gateway', 'signers', 'chat-host.signer.json')
    expect(run.stderr).toContain(`private key written to ${file} (mode 0600`)
    expect(mode(file)).toBe(0o600)
    expect(mode(join(home, '.config', 'invoker-gateway', 'signers'))).toBe(0o700)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      algorithm: 'ed25519',
      jwk: { d: expect.any(String) },
    })
    expect(existsSync('chat-host.signer.json')).toBe(false)
    expect(run.stdout).not.toContain('"d"')

    const again = cli(['signers', 'generate', '--name', 'chat-host'], env)
    expect(again.status).toBe(1)
    expect(again.stderr).toContain('exists: a private key is never overwritten')

    // `sign --key NAME` finds it there.
    const signed = cli(['sign', 'https://gw.example/packs/x', '--key', 'chat-host'], env)
    expect(signed.status, signed.stderr).toBe(0)
    expect(signed.stdout).toMatch(/^signature-input: sig1=/m)
  })

  it('follows XDG_CONFIG_HOME', () => {
    const config = mkdtempSync(join(tmpdir(), 'igw-xdg-'))
    const run = cli(['signers', 'generate', '--name', 'bot', '--alg', 'hmac-sha256'], { XDG_CONFIG_HOME: config })
    expect(run.status, run.stderr).toBe(0)
    expect(mode(join(config, 'invoker-gateway', 'signers', 'bot.signer.json'))).toBe(0o600)
  })

  it('refuses a --key-out inside a git work tree that git would not ignore, and accepts one it ignores', () => {
    const repo = mkdtempSync(join(tmpdir(), 'igw-repo-'))
    expect(spawnSync('git', ['init', '-q', repo]).status).toBe(0)
    const refused = cli([
      'signers',
      'generate',
      '--name',
      'chat-host',
      '--key-out',
      join(repo, 'keys', 'chat-host.json'),
    ])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain('is inside the git work tree')
    expect(existsSync(join(repo, 'keys', 'chat-host.json'))).toBe(false)
    writeFileSync(join(repo, '.gitignore'), 'keys/\n')
    const accepted = cli([
      'signers',
      'generate',
      '--name',
      'chat-host',
      '--key-out',
      join(repo, 'keys', 'chat-host.json'),
    ])
    expect(accepted.status, accepted.stderr).toBe(0)
    expect(mode(join(repo, 'keys', 'chat-host.json'))).toBe(0o600)
  })

  it('refuses a --key-out that reaches a work tree through a symbolic link, or is a dangling one (red team 5)', () => {
    const repo = mkdtempSync(join(tmpdir(), 'igw-repo-'))
    expect(spawnSync('git', ['init', '-q', repo]).status).toBe(0)
    mkdirSync(join(repo, 'policies'))
    const outside = mkdtempSync(join(tmpdir(), 'igw-out-'))
    symlinkSync(join(repo, 'policies'), join(outside, 'linkdir'))
    symlinkSync(join(repo, 'policies', 'dangling.json'), join(outside, 'dangling.json'))
    const generate = (keyOut: string) => cli(['signers', 'generate', '--name', 'chat-host', '--key-out', keyOut])
    const throughDir = generate(join(outside, 'linkdir', 'leak.json'))
    expect(throughDir.status).toBe(1)
    expect(throughDir.stderr).toContain('is inside the git work tree')
    const dangling = generate(join(outside, 'dangling.json'))
    expect(dangling.status).toBe(1)
    expect(dangling.stderr).toContain('exists')
    expect(readdirSync(join(repo, 'policies'))).toEqual([])
  })

  it("this repository's .gitignore covers signer key files written into it", () => {
    expect(spawnSync('git', ['check-ignore', '-q', 'chat-host.signer.json']).status).toBe(0)
    expect(spawnSync('git', ['check-ignore', '-q', 'policies/ci.signer.json']).status).toBe(0)
  })
})

describe('signing-keys rotate', () => {
  async function publishedSet(): Promise<{ jwks: { keys: JWK[] }; kid: string }> {
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const kid = '2026-10-01-current'
    return { jwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'EdDSA', kid, use: 'sig' }] }, kid }
  }

  it('prints a new set with only the new key, and policy lines that keep the published key until a date', async () => {
    const { jwks, kid } = await publishedSet()
    const { origin, hits } = await serve(() => ({ status: 200, body: JSON.stringify(jwks) }))
    const run = await cliAsync(['signing-keys', 'rotate', '--jwks', `${origin}/.well-known/jwks.json`])
    expect(run.status, run.stderr).toBe(0)
    expect(hits).toEqual(['GET /.well-known/jwks.json'])
    const secret = JSON.parse(run.stdout) as { keys: JWK[] }
    expect(secret.keys).toHaveLength(1)
    expect(secret.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', d: expect.any(String) })
    expect(secret.keys[0]?.kid).not.toBe(kid)

    const block = run.stderr.slice(run.stderr.indexOf('previous_signing_keys:'), run.stderr.indexOf('In this order'))
    expect(block).not.toContain('"d"')
    const { policy } = compileYaml({}, `issuer: https://gateway.test\n${block}`)
    expect(policy.previousSigningKeys.map((k) => k.jwk['kid'])).toEqual([kid])
    const until = policy.previousSigningKeys[0]?.untilSeconds ?? 0
    expect(Math.abs(until - (Date.now() / 1000 + 86_400))).toBeLessThan(120)
    expect(run.stderr).toContain('npm run deploy')
    expect(run.stderr).toContain('wrangler secret put INVOKER_SIGNING_KEYS')
  })

  it('with --prepublish also lists the new public key, and --keep sets the date', async () => {
    const { jwks } = await publishedSet()
    const dir = mkdtempSync(join(tmpdir(), 'igw-jwks-'))
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks))
    const run = cli([
      'signing-keys',
      'rotate',
      '--alg',
      'ES256',
      '--jwks',
      join(dir, 'jwks.json'),
      '--prepublish',
      '--keep',
      '3d',
    ])
    expect(run.status, run.stderr).toBe(0)
    const newKid = (JSON.parse(run.stdout) as { keys: JWK[] }).keys[0]?.kid
    const block = run.stderr.slice(run.stderr.indexOf('previous_signing_keys:'), run.stderr.indexOf('In this order'))
    const { policy } = compileYaml({}, `issuer: https://gateway.test\n${block}`)
    expect(policy.previousSigningKeys.map((k) => k.jwk['kid'])).toEqual(['2026-10-01-current', newKid])
    expect(
      Math.abs((policy.previousSigningKeys[0]?.untilSeconds ?? 0) - (Date.now() / 1000 + 3 * 86_400)),
    ).toBeLessThan(120)
    expect(run.stderr).toContain('wait 5 minutes')
  })

  it('refuses a key set with private keys, and a --keep too short for tokens in flight', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const dir = mkdtempSync(join(tmpdir(), 'igw-jwks-'))
    writeFileSync(
      join(dir, 'secret.json'),
      JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), alg: 'EdDSA', kid: 'k' }] }),
    )
    const secret = cli(['signing-keys', 'rotate', '--jwks', join(dir, 'secret.json')])
    expect(secret.status).toBe(1)
    expect(secret.stderr).toContain('holds private or symmetric keys')
    expect(secret.stdout).toBe('')
    const short = cli(['signing-keys', 'rotate', '--jwks', join(dir, 'secret.json'), '--keep', '1m'])
    expect(short.status).toBe(1)
    expect(short.stderr).toContain('--keep is at least 10m')
  })
})

describe('keys create and keys mint refuse a key that could never work, before it exists', () => {
  const policies = (() => {
    const dir = mkdtempSync(join(tmpdir(), 'igw-keys-policies-'))
    cpSync('policies', dir, { recursive: true })
    writeFileSync(
      join(dir, 'sso.yaml'),
      'pack: sso\nupstream: https://sso.acme-corp.dev\nmatch: { path_prefix: /packs/sso }\nanonymous: allow\nrate_limits: [{ id: a, by: ip, limit: 5, window: 1m }]\n',
    )
    return dir
  })()

  it.each([
    [['--expires', '2020-01-01'], '--expires 2020-01-01 is in the past'],
    [['--packs', 'crm,nowhere'], 'no pack is named "nowhere"'],
    [['--packs', 'sso'], 'pack "sso" does not accept API keys'],
  ])('keys create %j', (extra, message) => {
    const run = cli(['keys', 'create', '--name', 'ci-bot', '--policies', policies, ...extra])
    expect(run.status).toBe(1)
    expect(run.stderr).toContain(message)
    expect(run.stdout).toBe('')
  })

  it('keys create refuses a name the policy already has', () => {
    const run = cli(['keys', 'create', '--name', 'demo-alice', '--policies', policies])
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('already has a key named "demo-alice"')
  })

  it('keys mint refuses a past expiry and unknown packs without calling the gateway', async () => {
    const { origin, hits } = await serve(() => ({ status: 201, body: '{"store":"durable_object"}' }))
    const env = { GATEWAY_ADMIN_TOKEN: 'admin-token-for-the-test' }
    const past = await cliAsync(
      [
        'keys',
        'mint',
        '--gateway',
        origin,
        '--name',
        'ci-deploy',
        '--packs',
        'crm',
        '--expires',
        '2001-01-01T00:00:00Z',
        '--policies',
        policies,
      ],
      env,
    )
    expect(past.status).toBe(1)
    expect(past.stderr).toContain('is in the past')
    const unknown = await cliAsync(
      ['keys', 'mint', '--gateway', origin, '--name', 'ci-deploy', '--packs', 'nowhere', '--policies', policies],
      env,
    )
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain('no pack is named "nowhere"')
    expect(hits).toEqual([])
    const ok = await cliAsync(
      [
        'keys',
        'mint',
        '--gateway',
        origin,
        '--name',
        'ci-deploy',
        '--packs',
        'crm',
        '--expires',
        '2099-01-01',
        '--policies',
        policies,
      ],
      env,
    )
    expect(ok.status, ok.stderr).toBe(0)
    expect(hits).toEqual(['POST /.well-known/invoker-gateway/keys'])
  })
})
