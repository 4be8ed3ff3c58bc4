/**
 * docs/operations.md, checked by running what it says where that works offline: its wrangler.toml
 * snippets deploy (dry run) for the top level and for --env staging without a warning, the wrangler
 * flags it uses exist, its log fields are the log line's, its private-network upstreams pass or
 * fail the deploy guard as it says, and the README links to it.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { runGuard } from '../../src/cli/guard/checks.ts'

const run = promisify(execFile)
const DOC = 'docs/operations.md'
const text = readFileSync(DOC, 'utf8')

function blocks(language: string): string[] {
  return [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string)
}

const wrangler = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
  run(process.execPath, [resolve('node_modules/wrangler/bin/wrangler.js'), ...args], {
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', FORCE_COLOR: '0', NO_COLOR: '1' },
    timeout: 120_000,
  })

describe('docs/operations.md', () => {
  it('has wrangler.toml snippets that deploy (dry run) at the top level and with --env staging, without warnings', async () => {
    // A snippet that shows wrangler.toml as shipped is held to it below, not added to it.
    const snippets = blocks('toml').filter((snippet) => !snippet.startsWith('# as in wrangler.toml'))
    expect(snippets.length).toBeGreaterThanOrEqual(2)
    // Top-level keys go before wrangler.toml's first table; tables go after it.
    const base = readFileSync('wrangler.toml', 'utf8')
    const firstTable = base.search(/^\[/m)
    const topLevel: string[] = []
    const tables: string[] = []
    for (const snippet of snippets) {
      const table = snippet.search(/^\[/m)
      if (table === -1) topLevel.push(snippet)
      else {
        topLevel.push(snippet.slice(0, table))
        tables.push(snippet.slice(table))
      }
    }
    const config = `${base.slice(0, firstTable)}${topLevel.join('\n')}\n${base.slice(firstTable)}\n${tables.join('\n')}`
    // In the repository, so that main and [build] resolve as in the real file.
    const file = `wrangler.docs-check-${process.pid}.toml`
    writeFileSync(file, config)
    try {
      for (const env of ['', 'staging']) {
        const outdir = mkdtempSync(join(tmpdir(), 'igw-docs-'))
        const { stdout, stderr } = await wrangler([
          'deploy',
          '--dry-run',
          '--config',
          file,
          `--env=${env}`,
          '--outdir',
          outdir,
        ])
        const output = stdout + stderr
        expect(output, output).toContain('--dry-run: exiting now.')
        expect(output, output).not.toMatch(/WARNING|ERROR/)
        expect(output).toContain('env.GATEWAY_STORE (GatewayStoreObject)')
      }
    } finally {
      rmSync(file, { force: true })
    }
  }, 150_000)

  it('shows wrangler.toml’s own settings as wrangler.toml has them', () => {
    const shipped = blocks('toml').filter((snippet) => snippet.startsWith('# as in wrangler.toml'))
    expect(shipped.length).toBeGreaterThan(0)
    const settings = (text: string): string[] =>
      text
        .split('\n')
        .map((line) => line.replace(/\s+#.*$/, '').trim())
        .filter((line) => line !== '' && !line.startsWith('#'))
    const config = settings(readFileSync('wrangler.toml', 'utf8'))
    for (const snippet of shipped) for (const line of settings(snippet)) expect(config, line).toContain(line)
  })

  it('uses only wrangler flags that exist', async () => {
    const commands = [...text.matchAll(/npx wrangler (tail|secret put|secret list)([^\n|#]*)/g)].map((m) => ({
      command: m[1] as string,
      flags: [...(m[2] as string).matchAll(/--[a-z-]+/g)].map((f) => f[0]),
    }))
    expect(commands.length).toBeGreaterThan(4)
    for (const command of new Set(commands.map((c) => c.command))) {
      const { stdout } = await wrangler([...command.split(' '), '--help'])
      for (const flag of new Set(commands.filter((c) => c.command === command).flatMap((c) => c.flags))) {
        expect(stdout, `wrangler ${command} ${flag}`).toContain(`${flag} `)
      }
    }
  }, 60_000)

  it('lists every field of the log line, and only those', () => {
    // Both lines' fields (the request line, and a stream's stream_end line), each once.
    const fields = [
      ...new Set([...readFileSync('src/log.ts', 'utf8').matchAll(/^ {2}([a-z_]+): /gm)].map((m) => m[1] as string)),
    ]
    expect(fields).toContain('request_id')
    const table = text.slice(text.indexOf('| field | meaning |'), text.indexOf('No credential, token, cookie or body'))
    // The first column of each row names the fields it explains.
    const documented = table
      .split('\n')
      .slice(2)
      .filter((row) => row.startsWith('|'))
      .flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string))
    expect([...documented].sort()).toEqual([...fields].sort())
  })

  it('says the truth about private-network upstreams: a Tunnel hostname passes the deploy guard, .internal does not', () => {
    const tunnel = /upstream: (https:\/\/crm-backend\.[a-z.-]+)/.exec(text)?.[1] as string
    expect(tunnel).toBeDefined()
    const guard = (upstream: string) =>
      runGuard(
        {
          policies: [
            { path: 'policies/_gateway.yaml', text: 'issuer: https://gateway.acme-corp.dev\n' },
            {
              path: 'policies/crm.yaml',
              text: `pack: crm\nupstream: ${upstream}\nmatch: { path_prefix: /crm }\nanonymous: allow\nrate_limits: [{ id: a, by: ip, limit: 5, window: 1m }]\n`,
            },
          ],
          env: {},
        },
        { nowSeconds: Math.floor(Date.now() / 1000), secrets: { known: true, names: ['INVOKER_SIGNING_KEYS'] } },
      )
    const passes = guard(tunnel)
    expect(passes.ok && passes.findings).toEqual([])
    const refused = guard('http://crm.internal')
    expect(refused.ok && refused.findings.map((f) => f.code)).toEqual(['address', 'http_upstream'])
  })

  it('is linked from the README, with the threat model and the CHANGELOG, and its links resolve', () => {
    const readme = readFileSync('README.md', 'utf8')
    for (const target of ['docs/operations.md', 'docs/threat-model.md', 'CHANGELOG.md']) {
      expect(readme).toContain(`](${target}`)
      expect(existsSync(target), target).toBe(true)
    }
    for (const doc of [DOC, 'docs/threat-model.md']) {
      for (const [, link] of readFileSync(doc, 'utf8').matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
        expect(existsSync(resolve(dirname(doc), link as string)), `${doc} → ${link}`).toBe(true)
      }
    }
  })
})
