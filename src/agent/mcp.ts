/**
 * `mnemo/agent/mcp`: the MCP server over an agent session (what `npx mnemo mcp` runs), for a
 * program that embeds it. Apart from `mnemo/agent` so that an agent which only joins sessions
 * loads neither the MCP SDK nor its JSON-schema validators (12 MB of the 18 on disk).
 */
export { createMcpServer, runMcpServer } from './mcpServer.js'
export type { McpServerOptions } from './mcpServer.js'
export { createAnySessionMcpServer } from './mcpAnySession.js'
export type { AnySessionMcpOptions } from './mcpAnySession.js'
