/**
 * A real Better Auth server for tests: `better-auth` with email and password sign-in and its
 * in-memory database, served by its own Node handler on loopback. Tests sign users up and in
 * through its HTTP API and use the session cookie it sets, as a browser would.
 */
import { createServer, type Server } from 'node:http'
import { betterAuth } from 'better-auth'
import { memoryAdapter } from 'better-auth/adapters/memory'
import { toNodeHandler } from 'better-auth/node'
import { freePort } from './ports.ts'

export interface BetterAuthServer {
  origin: string
  /** The URL the gateway introspects sessions at. */
  sessionEndpoint: string
  close(): Promise<void>
}

export async function startBetterAuth(trustedOrigins: string[] = []): Promise<BetterAuthServer> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const auth = betterAuth({
    baseURL: origin,
    secret: 'better-auth-test-secret-0123456789abcdef',
    database: memoryAdapter({ user: [], session: [], account: [], verification: [] }),
    emailAndPassword: { enabled: true },
    trustedOrigins: [origin, ...trustedOrigins],
    telemetry: { enabled: false },
    logger: { disabled: true },
  })
  const handler = toNodeHandler(auth)
  const server: Server = createServer((req, res) => void handler(req, res))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    origin,
    sessionEndpoint: `${origin}/api/auth/get-session`,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
