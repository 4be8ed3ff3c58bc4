/**
 * MCP end to end with real components only: the official SDK client (`Client` over its
 * Streamable HTTP client transport, with the SDK's own OAuth support) knows nothing but a pack's
 * URL; the gateway runs in workerd; the authorization server is `oidc-provider` (authorization
 * code with PKCE, dynamic client registration, resource indicators); the backend is an MCP server
 * built with the SDK. The client finds the authorization server through the gateway's 401 and
 * the pack's resource metadata, registers, has a user sign in (driven over HTTP here), gets a
 * token for the pack's resource, and lists and calls tools through the gateway.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startAuthorizationServer, type AuthorizationServer } from '../../../demo/authorization-server.ts'
import { startTestMcpServer, TEST_TOOLS, type TestMcpServer } from '../../support/mcp-server.ts'
import { compileYaml } from '../../support/policy.ts'
import { freePort } from '../../support/ports.ts'
import { testSigningKeys } from '../../support/signing-keys.ts'
import { startWorkerdGateway, type WorkerdGateway } from '../../support/workerd-gateway.ts'
import { MemoryOAuthProvider, signIn } from './oauth-client.ts'

let gateway: WorkerdGateway
let authorizationServer: AuthorizationServer
let mcpServer: TestMcpServer
let toolsUrl: string
let otherUrl: string
const redirectUrl = 'http://127.0.0.1:1/callback'

beforeAll(async () => {
  const [gatewayPort, asPort] = [await freePort(), await freePort()]
  const origin = `http://127.0.0.1:${gatewayPort}`
  toolsUrl = `${origin}/mcp/tools`
  otherUrl = `${origin}/mcp/other`
  mcpServer = await startTestMcpServer()
  authorizationServer = await startAuthorizationServer({
    port: asPort,
    resources: { [toolsUrl]: ['mcp:tools'], [otherUrl]: ['mcp:tools'] },
  })
  const as = authorizationServer.issuer
  const { policy } = compileYaml(
    {
      tools: `
pack: tools
upstream: ${mcpServer.origin}/sse
match: { path_prefix: /mcp/tools }
protocol: mcp
auth: [bearer]
bearer: { issuers: [as], scopes: { all_of: [mcp:tools] } }
mcp:
  tools:
    default: allow
    names:
      delete_record: { allow: [{ email: alice@example.com }] }
      admin_*: { deny: [{ kind: "*" }] }
rate_limits:
  - { id: count-calls, by: invoker, when: { tool: count }, limit: 2, window: 1m, on_error: deny }
`,
      other: `
pack: other
upstream: ${mcpServer.origin}/json
match: { path_prefix: /mcp/other }
protocol: mcp
auth: [bearer]
bearer: { issuers: [as], scopes: { all_of: [mcp:tools] } }
`,
    },
    `
issuer: ${origin}
# The suite runs files side by side on two cores: a store call may be slow, never skipped.
store_timeout: 10s
issuers:
  as:
    issuer: ${as}
    jwks_uri: ${as}/jwks
    algorithms: [ES256]
    typ: at+jwt
    claims: { kind: authUser, email: email }
`,
  )
  gateway = await startWorkerdGateway(policy, gatewayPort, {
    INVOKER_SIGNING_KEYS: JSON.stringify(await testSigningKeys()),
  })
}, 60_000)

afterAll(async () => {
  await gateway?.close()
  await authorizationServer?.close()
  await mcpServer?.close()
})

/** A host connecting to `url` for `user`: the first connect ends at the authorization page. */
async function connectAs(user: string, url = toolsUrl): Promise<{ client: Client; provider: MemoryOAuthProvider }> {
  const provider = new MemoryOAuthProvider(redirectUrl)
  const first = new Client({ name: 'e2e-host', version: '1.0.0' })
  await expect(
    first.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider })),
  ).rejects.toBeInstanceOf(UnauthorizedError)
  expect(provider.authorizationUrl).toBeDefined()
  const code = await signIn(provider.authorizationUrl as URL, user, redirectUrl)
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider })
  await transport.finishAuth(code)
  const client = new Client({ name: 'e2e-host', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }))
  return { client, provider }
}

const text = (result: Awaited<ReturnType<Client['callTool']>>): string =>
  (result.content as { type: string; text: string }[])[0]?.text ?? ''

describe('an MCP host that knows only the pack URL', () => {
  let alice: Awaited<ReturnType<typeof connectAs>>
  let bob: Awaited<ReturnType<typeof connectAs>>

  beforeAll(async () => {
    alice = await connectAs('alice')
    bob = await connectAs('bob')
  }, 60_000)

  afterAll(async () => {
    await alice?.client.close()
    await bob?.client.close()
  })

  it("discovered the authorization server through the 401 and asked a token for the pack's resource", async () => {
    const url = alice.provider.authorizationUrl as URL
    expect(url.origin).toBe(authorizationServer.issuer)
    expect(url.searchParams.get('resource')).toBe(toolsUrl)
    expect(url.searchParams.get('scope')).toBe('mcp:tools')
    expect(url.searchParams.get('code_challenge_method')).toBe('S256')
    // It registered itself (RFC 7591): the provider does not take Client ID Metadata Documents.
    expect(alice.provider.registrations).toBe(1)
    const token = alice.provider.tokens()?.access_token as string
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as {
      aud: string
      sub: string
    }
    expect(claims).toMatchObject({ aud: toolsUrl, sub: 'alice' })
  })

  it('lets a caller call a tool it may call, and sends the backend a verifiable X-Invoker with the mcp claim, not the token', async () => {
    expect(text(await alice.client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi')
    const seen = JSON.parse(text(await alice.client.callTool({ name: 'whoami', arguments: {} }))) as Record<
      string,
      string | null
    >
    expect(seen['authorization']).toBeNull()
    expect(seen['mcp-session-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(seen['mcp-protocol-version']).toBe('2025-11-25')
    const { payload } = await jwtVerify(
      seen['x-invoker'] as string,
      createRemoteJWKSet(new URL(`${gateway.origin}/.well-known/jwks.json`)),
      { audience: 'tools', issuer: gateway.origin },
    )
    expect(payload).toMatchObject({
      sub: 'alice',
      mcp: { method: 'tools/call', tool: 'whoami' },
      auth: { method: 'bearer', issuer: 'as' },
    })
    expect(text(await alice.client.callTool({ name: 'delete_record', arguments: { id: 'r1' } }))).toBe('deleted r1')
  })

  it("refuses a forbidden tool with a JSON-RPC error the client shows, and hides it from that caller's list only", async () => {
    const refused = await bob.client
      .callTool({ name: 'delete_record', arguments: { id: 'r1' } })
      .catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(McpError)
    expect(refused).toMatchObject({ code: -32602 })
    expect((refused as McpError).message).toContain('Tool "delete_record" is not available to this caller')
    // The session goes on: the next call works.
    expect(text(await bob.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here')

    const bobs = (await bob.client.listTools()).tools.map((tool) => tool.name)
    const alices = (await alice.client.listTools()).tools.map((tool) => tool.name)
    expect(bobs).toEqual(['echo', 'whoami', 'count'])
    expect(alices).toEqual(['echo', 'whoami', 'count', 'delete_record'])
    expect(TEST_TOOLS).toContain('admin_reset')
    const log = gateway.logs().find((line) => line['mcp_tool'] === 'delete_record' && line['decision'] === 'deny')
    expect(log).toMatchObject({ invoker_id: 'bob', mcp_method: 'tools/call', reason: 'tool_denied', status: 200 })
  })

  it("streams a tool's log messages as the server writes them", async () => {
    const arrivals: number[] = []
    alice.client.setNotificationHandler(
      (await import('@modelcontextprotocol/sdk/types.js')).LoggingMessageNotificationSchema,
      () => void arrivals.push(Date.now()),
    )
    expect(text(await alice.client.callTool({ name: 'count', arguments: { n: 4 } }))).toBe('counted to 4')
    expect(arrivals).toHaveLength(4)
    expect((arrivals[3] as number) - (arrivals[0] as number)).toBeGreaterThan(400)
  })

  it('counts a rate limit on one tool and leaves the others alone', async () => {
    await bob.client.callTool({ name: 'count', arguments: { n: 1 } })
    await bob.client.callTool({ name: 'count', arguments: { n: 1 } })
    const limited = await bob.client.callTool({ name: 'count', arguments: { n: 1 } }).catch((error: unknown) => error)
    expect(String(limited)).toContain('429')
    expect(text(await bob.client.callTool({ name: 'echo', arguments: { text: 'unlimited' } }))).toBe('unlimited')
  })

  it('refuses a token issued for another resource', async () => {
    const other = await connectAs('alice', otherUrl)
    expect((await other.client.listTools()).tools.map((tool) => tool.name)).toEqual(TEST_TOOLS)
    const token = other.provider.tokens()?.access_token as string
    const response = await fetch(toolsUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
    expect(response.headers.get('www-authenticate')).toContain(
      `resource_metadata="${gateway.origin}/.well-known/oauth-protected-resource/mcp/tools"`,
    )
    await other.client.close()
  })
})
