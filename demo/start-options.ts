/**
 * The options of `npm start`: `npm start -- --port 9000 [--backend-port 9001]`, or the
 * environment variables GATEWAY_PORT and DEMO_BACKEND_PORT (the flags win). Pure, so it is
 * tested without starting anything.
 */
import { parseArgs } from 'node:util'

export interface StartOptions {
  gatewayPort: number
  backendPort: number
}

export const START_USAGE =
  'usage: npm start [-- --port N] [--backend-port N]   (or GATEWAY_PORT / DEMO_BACKEND_PORT in the environment)'

export function startOptions(argv: string[], env: Record<string, string | undefined>): StartOptions {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string', short: 'p' }, 'backend-port': { type: 'string' } },
    strict: true,
  })
  const gatewayPort = port(values.port ?? env['GATEWAY_PORT'] ?? '8787', '--port')
  const backendPort = port(values['backend-port'] ?? env['DEMO_BACKEND_PORT'] ?? '8788', '--backend-port')
  if (gatewayPort === backendPort) throw new Error(`the gateway and the demo backend cannot share port ${gatewayPort}`)
  return { gatewayPort, backendPort }
}

function port(text: string, flag: string): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < 1 || value > 65_535)
    throw new Error(`${flag} is a port number (1–65535), not "${text}"`)
  return value
}
