/**
 * A real MCP server for the tests, built with the official SDK (`McpServer` over its Streamable
 * HTTP server transport, stateful sessions), in two modes: `/sse/…` answers every request with
 * an SSE stream, `/json/…` with one JSON object. Its tools:
 *
 *   echo           says back `text`
 *   whoami         the request headers the server received (X-Invoker, Authorization, MCP fields)
 *   count          `n` log messages 200 ms apart, then its answer (a stream)
 *   delete_record  a sensitive tool the test policies restrict
 *   admin_reset    another one
 */
import type { Server } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { listen, mcpHandler } from '../../demo/mcp-http.ts'
import { freePort } from './ports.ts'

export const TEST_TOOLS = ['echo', 'whoami', 'count', 'delete_record', 'admin_reset']

/** Headers `whoami` reports. */
const REPORTED = ['x-invoker', 'authorization', 'x-api-key', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']

function testServer(): McpServer {
  const server = new McpServer({ name: 'invoker-gateway test tools', version: '1.0.0' }, { capabilities: { logging: {} } })
  server.registerTool('echo', { description: 'Says back text.', inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text }] }))
  server.registerTool('whoami', { description: 'The headers the server received.' }, (extra) => {
    const headers = extra.requestInfo?.headers ?? {}
    const seen = Object.fromEntries(REPORTED.map((name) => [name, headers[name] ?? null]))
    return { content: [{ type: 'text', text: JSON.stringify(seen) }] }
  })
  server.registerTool('count', { description: 'Counts to n, 200 ms apart.', inputSchema: { n: z.number().int().min(1).max(20) } }, async ({ n }, extra) => {
    for (let i = 1; i <= n; i++) {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: `${i} at ${Date.now()}` } })
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    return { content: [{ type: 'text', text: `counted to ${n}` }] }
  })
  server.registerTool('delete_record', { description: 'Deletes a record.', inputSchema: { id: z.string() } }, ({ id }) => ({ content: [{ type: 'text', text: `deleted ${id}` }] }))
  server.registerTool('admin_reset', { description: 'Resets everything.' }, () => ({ content: [{ type: 'text', text: 'reset' }] }))
  return server
}

export interface TestMcpServer {
  origin: string
  close(): Promise<void>
}

export async function startTestMcpServer(port?: number): Promise<TestMcpServer> {
  const server: Server = await listen(
    mcpHandler({
      '/sse': { server: testServer, json: false },
      '/json': { server: testServer, json: true },
    }),
    port ?? (await freePort()),
  )
  const { port: bound } = server.address() as { port: number }
  return {
    origin: `http://127.0.0.1:${bound}`,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
