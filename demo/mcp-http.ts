/**
 * An MCP server over the official SDK's Streamable HTTP server transport, on a plain Node HTTP
 * server, one transport and one `McpServer` per session (the SDK's own stateful pattern): the
 * demo MCP server and the test suite's MCP servers use it. `json: true` answers requests with
 * one JSON object each; otherwise every answer is an SSE stream. `stateless: true` keeps no
 * session (a fresh server per request, the SDK's stateless pattern): a single curl can list tools.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'

export interface McpEndpoint {
  /** Builds the server for a new session. */
  server: () => McpServer
  json: boolean
  stateless?: boolean
}

/**
 * A request handler serving MCP at every path of `endpoints` (by path prefix). `authorize`, when
 * given, runs first and answers the request itself (an HTTP error) when it returns false.
 */
export function mcpHandler(
  endpoints: Record<string, McpEndpoint>,
  authorize?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  return async (req, res) => {
    if (authorize && !(await authorize(req, res))) return
    const path = new URL(req.url ?? '/', 'http://mcp').pathname
    const endpoint = Object.entries(endpoints).find(
      ([prefix]) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : prefix + '/'),
    )?.[1]
    if (endpoint === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no MCP endpoint here')
      return
    }
    if (endpoint.stateless) {
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: endpoint.json,
      })
      const server = endpoint.server()
      res.on('close', () => void transport.close().then(() => server.close()))
      await server.connect(transport)
      await transport.handleRequest(req, res)
      return
    }
    const sessionId = req.headers['mcp-session-id']
    let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined
    if (transport === undefined) {
      if (typeof sessionId === 'string') {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }))
        return
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: endpoint.json,
        onsessioninitialized: (id) => void sessions.set(id, created),
      })
      created.onclose = () => {
        if (created.sessionId !== undefined) sessions.delete(created.sessionId)
      }
      await endpoint.server().connect(created)
      transport = created
    }
    await transport.handleRequest(req, res)
  }
}

export function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  port: number,
): Promise<Server> {
  const server = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(String(error))
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}
