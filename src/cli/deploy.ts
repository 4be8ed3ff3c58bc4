/**
 * `npm run deploy [-- wrangler deploy options]`: the deploy guard, then `wrangler deploy` with the
 * given options, only when nothing refuses. `--env` / `-e` is read for the guard (whose secrets to
 * ask for) and passed on. `npx wrangler deploy` stays available for a deploy without the guard.
 *
 * @module
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { productionCheck } from './guard/index.ts'

export async function deployCommand(args: string[]): Promise<number> {
  const env = wranglerEnv(args)
  // The guard checks what the build ([build] in wrangler.toml) compiles: policies/.
  const verdict = await productionCheck({ policies: 'policies', env })
  if (verdict !== 0) return verdict
  const wrangler = join(
    dirname(createRequire(join(process.cwd(), 'package.json')).resolve('wrangler/package.json')),
    'bin',
    'wrangler.js',
  )
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [wrangler, 'deploy', ...args], { stdio: 'inherit' })
    child.on('close', (code) => resolve(code ?? 1))
  })
}

function wranglerEnv(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--env' || arg === '-e') return args[i + 1]
    if (arg.startsWith('--env=')) return arg.slice('--env='.length)
  }
  return undefined
}
