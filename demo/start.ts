/**
 * `npm start [-- --port N] [--backend-port N]`: compile the policies, start the demo backend, the
 * demo MCP server and the demo authorization server, run the gateway with `wrangler dev` on
 * http://127.0.0.1:8787 (or the port given). Ctrl-C stops them all.
 */
import { spawn, spawnSync } from 'node:child_process'
import { startAuthorizationServer } from './authorization-server.ts'
import { startDemoBackend } from './backend.ts'
import { ensureDevVars } from './dev-vars.ts'
import { startDemoMcpServer } from './mcp-server.ts'
import { START_USAGE, startOptions, type StartOptions } from './start-options.ts'

let options: StartOptions
try {
  options = startOptions(process.argv.slice(2), process.env)
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${START_USAGE}`)
  process.exit(2)
}
const { gatewayPort, backendPort } = options
const mcpPort = Number(process.env['DEMO_MCP_PORT'] ?? 8789)
// policies/_gateway.yaml names the demo authorization server at 127.0.0.1:8790.
const authorizationServerPort = Number(process.env['DEMO_AS_PORT'] ?? 8790)
const gatewayOrigin = `http://127.0.0.1:${gatewayPort}`
const env = {
  ...process.env,
  DEMO_BACKEND_PORT: String(backendPort),
  DEMO_MCP_PORT: String(mcpPort),
  WRANGLER_SEND_METRICS: 'false',
}

const build = spawnSync(process.execPath, ['src/cli/main.ts', 'build'], { stdio: 'inherit', env })
if (build.status !== 0) process.exit(build.status ?? 1)
await ensureDevVars()

const backend = await startDemoBackend({
  port: backendPort,
  jwksUrl: `${gatewayOrigin}/.well-known/jwks.json`,
  issuer: 'http://127.0.0.1:8787',
  audience: ['echo', 'public', 'crm'],
})
const mcpServer = await startDemoMcpServer({
  port: mcpPort,
  jwksUrl: `${gatewayOrigin}/.well-known/jwks.json`,
  issuer: 'http://127.0.0.1:8787',
})
// The authorization server issues tokens for the resources of the MCP packs that take its tokens.
const { compiledPolicy } = await import('../src/policy/compiled.gen.ts')
const resources = Object.fromEntries(
  compiledPolicy.packs.flatMap((pack) =>
    pack.mcp && pack.bearerIssuers.includes('demo-as') ? [[pack.mcp.resource, pack.mcp.scopes]] : [],
  ),
)
const authorizationServer = await startAuthorizationServer({ port: authorizationServerPort, resources })
console.error(
  `demo backend on http://127.0.0.1:${backendPort}, MCP server on http://127.0.0.1:${mcpPort}, authorization server on ${authorizationServer.issuer}; gateway starting on ${gatewayOrigin}`,
)

const wrangler = spawn(
  'wrangler',
  ['dev', '--ip', '127.0.0.1', '--port', String(gatewayPort), '--show-interactive-dev-session=false'],
  {
    stdio: 'inherit',
    env,
  },
)
const stop = (): void => {
  wrangler.kill('SIGTERM')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
wrangler.on('exit', (code) => {
  backend.close()
  mcpServer.close()
  void authorizationServer.close()
  process.exit(code ?? 0)
})
