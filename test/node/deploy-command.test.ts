/**
 * `npm run deploy` and `check --production` as a user runs them: a separate process, the real
 * wrangler. Offline, wrangler cannot list the Worker's secrets, and the guard says so without
 * failing for it; with a Cloudflare API to ask (a local stand-in of its secrets endpoint, since
 * the tests have no internet), a missing INVOKER_SIGNING_KEYS refuses the deploy.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const REPO = resolve('.')

/** The environment without any Cloudflare credentials the machine may have. */
function offlineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', ...extra }
  for (const name of [
    'CLOUDFLARE_API_TOKEN',
    'CLOUDFLARE_ACCOUNT_ID',
    'CLOUDFLARE_API_KEY',
    'CLOUDFLARE_EMAIL',
    'CLOUDFLARE_API_BASE_URL',
  ]) {
    if (!(name in extra)) delete env[name]
  }
  return env
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(cwd, 'src/cli/main.ts'), ...args], { cwd, env })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('close', (code) => done({ code: code ?? -1, out }))
  })
}

/** A copy of the project with production-ready policies (node_modules linked, not copied). */
function productionProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'igw-deploy-'))
  for (const entry of ['src', 'packages/verifier/src', 'package.json', 'wrangler.toml', 'tsconfig.json'])
    cpSync(join(REPO, entry), join(dir, entry), { recursive: true })
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir')
  mkdirSync(join(dir, 'policies'))
  writeFileSync(
    join(dir, 'policies/_gateway.yaml'),
    `issuer: https://gateway.acme-corp.dev\napi_keys:\n  ci-bot: { key_id: "Ab12Cd34", sha256: "${'b'.repeat(64)}", packs: [crm] }\n`,
  )
  writeFileSync(
    join(dir, 'policies/crm.yaml'),
    'pack: crm\nupstream: https://crm.acme-corp.dev\nmatch: { path_prefix: /packs/crm }\nauth: [api_key]\n',
  )
  return dir
}

describe('check --production and npm run deploy', () => {
  it('refuse the repository as shipped (demo keys, loopback issuer and upstreams), and say the secrets were not checked offline', async () => {
    const { code, out } = await run(['check', '--production'], REPO, offlineEnv())
    expect(code).toBe(1)
    expect(out).toMatch(/REFUSE {2}policies\/_gateway\.yaml:\d+ {2}api_keys\.demo-alice is a public demo key/)
    expect(out).toMatch(
      /REFUSE {2}policies\/_gateway\.yaml:\d+ {2}issuer http:\/\/127\.0\.0\.1:8787 is a loopback address/,
    )
    expect(out).toMatch(
      /REFUSE {2}policies\/echo\.yaml:\d+ {2}pack echo: upstream http:\/\/127\.0\.0\.1:8788 is plain http/,
    )
    expect(out).toMatch(/not checked {2}the Worker's secrets \(INVOKER_SIGNING_KEYS\): wrangler could not list them/)
    expect(out).toContain('deploy refused')
  }, 60_000)

  it('deploy stops before wrangler deploy when the guard refuses', async () => {
    const outdir = join(mkdtempSync(join(tmpdir(), 'igw-refused-')), 'out')
    const { code, out } = await run(['deploy', '--dry-run', '--outdir', outdir], REPO, offlineEnv())
    expect(code).toBe(1)
    expect(out).toContain('deploy refused')
    expect(existsSync(outdir)).toBe(false)
  }, 60_000)

  it('deploy runs wrangler deploy with its options when nothing refuses (dry run, offline)', async () => {
    const dir = productionProject()
    const outdir = join(dir, 'out')
    const { code, out } = await run(['deploy', '--dry-run', '--outdir', outdir], dir, offlineEnv())
    expect(code, out).toBe(0)
    expect(out).toContain('deploy guard: nothing refuses this deploy.')
    expect(out).toContain('not checked')
    expect(readdirSync(outdir).some((f) => f.endsWith('.js'))).toBe(true)
  }, 150_000)

  describe('with a Cloudflare API that can answer', () => {
    let server: Server
    let base: string
    const asked: string[] = []
    let secrets: string[] = []
    beforeAll(async () => {
      // Answers wrangler's GET /accounts/:account/workers/scripts/:script/secrets like the API does.
      server = createServer((req, res) => {
        asked.push(`${req.method} ${req.url}`)
        res.setHeader('content-type', 'application/json')
        if (req.method === 'GET' && /\/workers\/scripts\/[^/]+\/secrets$/.test(req.url ?? '')) {
          res.end(
            JSON.stringify({
              success: true,
              errors: [],
              messages: [],
              result: secrets.map((name) => ({ name, type: 'secret_text' })),
            }),
          )
          return
        }
        res.statusCode = 404
        res.end(
          JSON.stringify({ success: false, errors: [{ code: 7003, message: 'no route' }], messages: [], result: null }),
        )
      })
      await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`
    })
    afterAll(() => server.close())

    const apiEnv = (): NodeJS.ProcessEnv =>
      offlineEnv({ CLOUDFLARE_API_BASE_URL: base, CLOUDFLARE_API_TOKEN: 'test-token', CLOUDFLARE_ACCOUNT_ID: 'acc123' })

    it('refuses a deploy whose Worker has no INVOKER_SIGNING_KEYS, asked through wrangler secret list', async () => {
      const dir = productionProject()
      secrets = ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN']
      const refused = await run(['check', '--production'], dir, apiEnv())
      expect(refused.code).toBe(1)
      expect(refused.out).toMatch(/REFUSE {2}wrangler secrets {2}INVOKER_SIGNING_KEYS is not set/)
      expect(refused.out).not.toContain('not checked')
      expect(asked).toContain('GET /client/v4/accounts/acc123/workers/scripts/invoker-gateway/secrets')

      secrets = ['INVOKER_SIGNING_KEYS']
      const staging = await run(['check', '--production', '--env', 'staging'], dir, apiEnv())
      expect(staging.code, staging.out).toBe(0)
      expect(asked).toContain('GET /client/v4/accounts/acc123/workers/scripts/invoker-gateway-staging/secrets')
    }, 60_000)
  })
})
