/**
 * `/mcp`: MCP over Streamable HTTP (the MCP specification's transport, served by the MCP SDK's
 * own server transport; http/mcpSessions.ts holds the sessions). Mounted after the API's routes
 * by `serverRoutes` (routes/index.ts): its sessions join the server's own URL, which only a
 * listening server has (test/agent-mcp-http.int.test.ts drives it over one).
 */
import { Hono } from 'hono'
import type { McpSessions } from '../mcpSessions.js'
import { describeRoute, errorResponses, query, textResponse } from '../describe.js'

const sessionQuery = query('session', 'string',
  'the session to serve (its tools and resources, as `mnemo mcp --session`); without it every tool takes a `session` argument. '
  + 'Read on the initialize request only')

const sessionIdHeader = {
  in: 'header', name: 'Mcp-Session-Id', required: false, schema: { type: 'string' },
  description: 'the MCP session, as the initialize response named it; required on every request after initialize',
} as const

const MCP = 'MCP (https://modelcontextprotocol.io), Streamable HTTP transport, with the same bearer token as the HTTP API'

export function mcpRoutes(sessions: McpSessions) {
  const app = new Hono()
  const handle = (c: Parameters<McpSessions['handle']>[0]) => sessions.handle(c)

  app.post('/mcp', describeRoute({
    tags: ['agents'],
    summary: `${MCP}: a JSON-RPC message or batch. An \`initialize\` request without \`Mcp-Session-Id\` opens an MCP session `
      + '(its id in the response\'s `Mcp-Session-Id` header); anything else needs that header',
    parameters: [sessionQuery, sessionIdHeader],
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'a JSON-RPC 2.0 message, or an array of them' } } } },
    responses: {
      200: {
        description: 'the JSON-RPC response(s): an SSE stream (`text/event-stream`, each `data` one JSON-RPC message) or JSON',
        content: { 'text/event-stream': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object' } } },
      },
      202: { description: 'accepted: the body held only notifications or responses' },
      ...errorResponses([400, 404, 406, 415]),
    },
  }), handle)

  app.get('/mcp', describeRoute({
    tags: ['agents'],
    summary: `${MCP}: the stream of the MCP session's server-to-client messages`,
    parameters: [sessionIdHeader],
    responses: { 200: textResponse('Server-Sent Events, each `data` one JSON-RPC message', 'text/event-stream'), ...errorResponses([400, 404]) },
  }), handle)

  app.delete('/mcp', describeRoute({
    tags: ['agents'],
    summary: `${MCP}: closes the MCP session, and leaves the sessions it joined`,
    parameters: [sessionIdHeader],
    responses: { 200: { description: 'closed' }, ...errorResponses([400, 404]) },
  }), handle)

  return app
}
