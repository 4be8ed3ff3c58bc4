/**
 * Starts, once for the workerd tests, the real parts they run against: the test backend, a real
 * redis-server behind the Upstash REST adapter, two real OpenID providers (the trusted one and a
 * stranger), a real Better Auth app, and independent RFC 9421 signers. Hands their addresses over.
 */
import type { TestProject } from 'vitest/node'
import { startTestBackend } from './backend.ts'
import { testSigningKeys } from './signing-keys.ts'
import { startUpstashRestAdapter } from './upstash-rest.ts'
import { startOidcProvider } from './oidc.ts'
import { startBetterAuth } from './better-auth.ts'
import { startIndependentSigners } from './independent-signers.ts'
import { startTroubleServer } from './trouble.ts'
import { startFlakyServer } from './flaky.ts'
import { startTestMcpServer } from './mcp-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    backendOrigin: string
    signingKeys: string
    upstashUrl: string
    upstashToken: string
    oidcIssuer: string
    strangerIssuer: string
    volatileIssuer: string
    betterAuthOrigin: string
    signersOrigin: string
    troubleErrorOrigin: string
    troubleHangOrigin: string
    flakyOrigin: string
    mcpOrigin: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const backend = await startTestBackend()
  project.provide('backendOrigin', backend.origin)
  project.provide('signingKeys', JSON.stringify(await testSigningKeys()))
  const upstash = await startUpstashRestAdapter()
  project.provide('upstashUrl', upstash.url)
  project.provide('upstashToken', upstash.token)
  const oidc = await startOidcProvider()
  project.provide('oidcIssuer', oidc.issuer)
  const stranger = await startOidcProvider()
  project.provide('strangerIssuer', stranger.issuer)
  // Rotated and taken down by the tests of key rotation and JWKS outages, and by nothing else.
  const volatile = await startOidcProvider()
  project.provide('volatileIssuer', volatile.issuer)
  const betterAuth = await startBetterAuth()
  project.provide('betterAuthOrigin', betterAuth.origin)
  const signers = await startIndependentSigners()
  project.provide('signersOrigin', signers.origin)
  // Failing services (500, or no answer): JWKS, introspection, session endpoints, key directories.
  const troubleError = await startTroubleServer('error')
  project.provide('troubleErrorOrigin', troubleError.origin)
  const troubleHang = await startTroubleServer('hang')
  project.provide('troubleHangOrigin', troubleHang.origin)
  // Works until a test turns a path down: the last-good-answer (degraded input) tests.
  const flaky = await startFlakyServer()
  project.provide('flakyOrigin', flaky.origin)
  // An MCP server built with the official SDK (SSE and JSON answers), for the MCP packs.
  const mcp = await startTestMcpServer()
  project.provide('mcpOrigin', mcp.origin)
  return async () => {
    await backend.close()
    await upstash.close()
    await oidc.close()
    await stranger.close()
    await volatile.close()
    await betterAuth.close()
    await signers.close()
    await troubleError.close()
    await troubleHang.close()
    await flaky.close()
    await mcp.close()
  }
}
