/**
 * `npm start [-- --port N] [--backend-port N]`: compile the policies, start the demo backend, run
 * the gateway with `wrangler dev` on http://127.0.0.1:8787 (or the port given). Ctrl-C stops both.
 */
import { spawn, spawnSync } from 'node:child_process'
import { startDemoBackend } from './backend.ts'
import { ensureDevVars } from './dev-vars.ts'
import { START_USAGE, startOptions, type StartOptions } from './start-options.ts'

let options: StartOptions
try {
  options = startOptions(process.argv.slice(2), process.env)
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${START_USAGE}`)
  process.exit(2)
}
const { gatewayPort, backendPort } = options
const gatewayOrigin = `http://127.0.0.1:${gatewayPort}`
const env = { ...process.env, DEMO_BACKEND_PORT: String(backendPort), WRANGLER_SEND_METRICS: 'false' }

const build = spawnSync(process.execPath, ['src/cli/main.ts', 'build'], { stdio: 'inherit', env })
if (build.status !== 0) process.exit(build.status ?? 1)
await ensureDevVars()

const backend = await startDemoBackend({
  port: backendPort,
  jwksUrl: `${gatewayOrigin}/.well-known/jwks.json`,
  issuer: 'http://127.0.0.1:8787',
  audience: ['echo', 'public', 'crm'],
})
console.error(`demo backend on http://127.0.0.1:${backendPort}; gateway starting on ${gatewayOrigin}`)

const wrangler = spawn('wrangler', ['dev', '--ip', '127.0.0.1', '--port', String(gatewayPort), '--show-interactive-dev-session=false'], {
  stdio: 'inherit',
  env,
})
const stop = (): void => {
  wrangler.kill('SIGTERM')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
wrangler.on('exit', (code) => {
  backend.close()
  process.exit(code ?? 0)
})
