/**
 * `mnemo/agent`: the SDK with which an AI agent (or any program) joins a mnemo session as a
 * peer, and the MCP server that offers the same operations to any MCP-capable model.
 */
export { joinSession } from './joinSession.js'
export type { AgentSession, ConnectionStatus, JoinOptions } from './joinSession.js'
export type { DocOps, NewProposal } from './docOps.js'
export type { DocOp } from '../session/docOps.js'
export type { HttpOps, TurnRole } from './httpOps.js'
export type { EventsOptions } from './events.js'
export type { RetryOptions } from './http.js'
export type { AgentIdentity } from './identity.js'
export { MnemoError } from './errors.js'
export { createMcpServer, runMcpServer } from './mcpServer.js'
export type { McpServerOptions } from './mcpServer.js'
export type * from './types.js'
