/**
 * Which secrets the deployed Worker has, asked of `wrangler secret list` (secrets cannot be read
 * back, but their names can). Offline, or without a Cloudflare login, wrangler cannot answer: the
 * guard then says the secrets were not checked rather than failing for it.
 *
 * @module
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { SecretNames } from './checks.ts'

/** Long enough for a slow API, short enough that an unreachable one does not stall a deploy. */
const WRANGLER_TIMEOUT_MS = 30_000

export async function listWorkerSecrets(wranglerEnv: string | undefined, cwd = process.cwd()): Promise<SecretNames> {
  const wrangler = join(
    dirname(createRequire(join(cwd, 'package.json')).resolve('wrangler/package.json')),
    'bin',
    'wrangler.js',
  )
  const args = [wrangler, 'secret', 'list', '--format', 'json', ...(wranglerEnv ? ['--env', wranglerEnv] : [])]
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGTERM'), WRANGLER_TIMEOUT_MS)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
  const output = `${run.stdout}\n${run.stderr}`
  if (run.code === 0) {
    try {
      const list = JSON.parse(run.stdout.slice(run.stdout.indexOf('['))) as Array<{ name?: unknown }>
      return { known: true, names: list.map((s) => s.name).filter((n): n is string => typeof n === 'string') }
    } catch {
      return { known: false, why: 'wrangler answered, but not with a JSON list' }
    }
  }
  // A Worker that was never deployed has no secrets: that is an answer, not a failure to ask.
  if (/Worker "[^"]+" not found/.test(output)) return { known: true, names: [] }
  if (run.code === null) return { known: false, why: `wrangler did not answer within ${WRANGLER_TIMEOUT_MS / 1000} s` }
  return { known: false, why: `wrangler could not list them (${firstError(output)})` }
}

/** wrangler's first error line, without its decoration. */
function firstError(output: string): string {
  const line = output
    .split('\n')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes (ESC [ … m) wrangler prints
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .find((l) => /ERROR|requires|Error/.test(l))
  const text = (line ?? 'no answer').replace(/^✘\s*\[ERROR\]\s*/, '')
  const sentence = (text.split(/(?<=\.)\s/)[0] ?? text).replace(/\.$/, '')
  return sentence.length > 160 ? `${sentence.slice(0, 157)}…` : sentence
}
