/**
 * The demo MCP server behind the `tools` pack (`/packs/tools/mcp`): built with the official SDK
 * (`McpServer` over its Streamable HTTP transport, stateless, every answer an SSE stream), and,
 * like the demo backend, trusting nothing but a verified X-Invoker. Its tools:
 *
 *   echo          says back what it is given
 *   whoami        tells the caller who the gateway says it is, and what the mcp claim says
 *   count         counts to n, one log message every 300 ms before its answer (a stream)
 *   delete_notes  the sensitive one: the pack lets only Alice call it (policies/tools.yaml)
 */
import type { IncomingMessage, Server } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { z } from 'zod'
import { createInvokerVerifier, InvokerVerificationError, type VerifiedInvoker } from '@invoker-gateway/verifier'
import { nodeRequest } from './backend.ts'
import { listen, mcpHandler } from './mcp-http.ts'

export interface DemoMcpServerOptions {
  port: number
  jwksUrl: string
  issuer: string
}

/** The verified X-Invoker of the request a tool serves (the SDK hands `req.auth` to tools as authInfo). */
function verifiedOf(extra: { authInfo?: AuthInfo }): VerifiedInvoker | undefined {
  return extra.authInfo?.extra?.['verified'] as VerifiedInvoker | undefined
}

function demoServer(): McpServer {
  const server = new McpServer(
    { name: 'invoker-gateway demo tools', version: '1.0.0' },
    { capabilities: { logging: {} } },
  )
  server.registerTool(
    'echo',
    { description: 'Says back what it is given.', inputSchema: { text: z.string() } },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  )
  server.registerTool('whoami', { description: 'Who the gateway says the caller is.' }, (extra) => {
    const invoker = verifiedOf(extra)
    return {
      content: [
        {
          type: 'text',
          text: JSON.stringify({
            invoker: invoker?.invoker ?? null,
            auth: invoker?.auth ?? null,
            mcp: invoker?.mcp ?? null,
          }),
        },
      ],
    }
  })
  server.registerTool(
    'count',
    {
      description: 'Counts to n (at most 10), one log message every 300 ms.',
      inputSchema: { n: z.number().int().min(1).max(10) },
    },
    async ({ n }, extra) => {
      for (let i = 1; i <= n; i++) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: `${i}` } })
        await new Promise((resolve) => setTimeout(resolve, 300))
      }
      return { content: [{ type: 'text', text: `counted to ${n}` }] }
    },
  )
  server.registerTool(
    'delete_notes',
    { description: 'Deletes every note (in this demo, there are none).' },
    (extra) => ({
      content: [
        {
          type: 'text',
          text: `All notes deleted by ${verifiedOf(extra)?.invoker.id ?? 'nobody'} (a demo: nothing was).`,
        },
      ],
    }),
  )
  return server
}

export function startDemoMcpServer(options: DemoMcpServerOptions): Promise<Server> {
  const verifier = createInvokerVerifier({ jwksUrl: options.jwksUrl, issuer: options.issuer, audience: 'tools' })
  const handler = mcpHandler({ '/': { server: demoServer, json: false, stateless: true } }, async (req, res) => {
    try {
      const verified = await verifier.verify(nodeRequest(req))
      ;(req as IncomingMessage & { auth?: AuthInfo }).auth = {
        token: 'x-invoker',
        clientId: verified.invoker.id,
        scopes: [],
        extra: { verified },
      }
      return true
    } catch (error) {
      const code = error instanceof InvokerVerificationError ? error.reason : 'invalid'
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: `X-Invoker not verified: ${code}` }))
      return false
    }
  })
  return listen(handler, options.port)
}
