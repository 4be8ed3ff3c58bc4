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
 *
 * And, under `/raw/`, answers no MCP server gives but a gateway must survive:
 *
 *   /raw/body                  the request's body, byte for byte
 *   /raw/list-as-text          a tool list as text/plain
 *   /raw/list?n=N&chunk=C      a tool list of N tools (tool_0 …) as an SSE stream cut into C-byte
 *                              writes, between a priming event, a comment and a notification
 *   /raw/list-json?n=N         the same list as one JSON answer
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { listen, mcpHandler } from '../../demo/mcp-http.ts'
import { freePort } from './ports.ts'

export const TEST_TOOLS = ['echo', 'whoami', 'count', 'delete_record', 'admin_reset']

/** Headers `whoami` reports. */
const REPORTED = ['x-invoker', 'authorization', 'x-api-key', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']

function testServer(): McpServer {
  const server = new McpServer(
    { name: 'invoker-gateway test tools', version: '1.0.0' },
    { capabilities: { logging: {} } },
  )
  server.registerTool('echo', { description: 'Says back text.', inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }))
  server.registerTool('whoami', { description: 'The headers the server received.' }, (extra) => {
    const headers = extra.requestInfo?.headers ?? {}
    const seen = Object.fromEntries(REPORTED.map((name) => [name, headers[name] ?? null]))
    return { content: [{ type: 'text', text: JSON.stringify(seen) }] }
  })
  server.registerTool(
    'count',
    { description: 'Counts to n, 200 ms apart.', inputSchema: { n: z.number().int().min(1).max(20) } },
    async ({ n }, extra) => {
      for (let i = 1; i <= n; i++) {
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', data: `${i} at ${Date.now()}` },
        })
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      return { content: [{ type: 'text', text: `counted to ${n}` }] }
    },
  )
  server.registerTool(
    'delete_record',
    { description: 'Deletes a record.', inputSchema: { id: z.string() } },
    ({ id }) => ({ content: [{ type: 'text', text: `deleted ${id}` }] }),
  )
  server.registerTool('admin_reset', { description: 'Resets everything.' }, () => ({
    content: [{ type: 'text', text: 'reset' }],
  }))
  return server
}

/** A `tools/list` result of `n` tools named tool_0 … with a schema each, as servers send them. */
export function toolList(n: number, id: number | string = 1): string {
  const tools = Array.from({ length: n }, (_, i) => ({
    name: `tool_${i}`,
    description: `Test tool number ${i}, which does nothing in particular.`,
    inputSchema: {
      type: 'object',
      properties: { text: { type: 'string', description: 'Some text.' }, count: { type: 'integer', minimum: 0 } },
      required: ['text'],
    },
  }))
  return JSON.stringify({ result: { tools }, jsonrpc: '2.0', id })
}

async function raw(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const n = Number(url.searchParams.get('n') ?? 3)
  switch (url.pathname) {
    case '/raw/body':
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.concat(chunks))
      return
    case '/raw/list-as-text':
      res.writeHead(200, { 'content-type': 'text/plain' }).end(toolList(n))
      return
    case '/raw/list-json':
      res.writeHead(200, { 'content-type': 'application/json' }).end(toolList(n))
      return
    case '/raw/list': {
      const stream = `id: prime\ndata: \n\n: keep-alive\n\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"listing"}}\n\nevent: message\nid: 7\ndata: ${toolList(n)}\n\n`
      const size = Number(url.searchParams.get('chunk') ?? stream.length)
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (let at = 0; at < stream.length; at += size) {
        res.write(stream.slice(at, at + size))
        await new Promise((resolve) => setImmediate(resolve))
      }
      res.end()
      return
    }
  }
  res.writeHead(404).end()
}

export interface TestMcpServer {
  origin: string
  close(): Promise<void>
}

export async function startTestMcpServer(port?: number): Promise<TestMcpServer> {
  const mcp = mcpHandler({
    '/sse': { server: testServer, json: false },
    '/json': { server: testServer, json: true },
  })
  const server: Server = await listen(
    async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://mcp')
      return url.pathname.startsWith('/raw/') ? raw(req, res, url) : mcp(req, res)
    },
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
