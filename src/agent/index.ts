/**
 * `mnemo/agent`: the SDK with which an AI agent (or any program) joins a mnemo session as a
 * peer. The MCP server that offers the same operations to any MCP-capable model is
 * `mnemo/agent/mcp`, apart so that an agent loads the MCP SDK only when it serves MCP.
 */
export { joinSession } from './joinSession.js'
export type { AgentSession, ConnectionStatus, JoinOptions } from './joinSession.js'
export type { DocOps, NewProposal } from './docOps.js'
export type { DocOp } from '../session/docOps.js'
export type { HttpOps, TurnRole } from './httpOps.js'
export type { NewChangeProposal, OpenedProposal, ProposalOps } from './proposals.js'
export type { EventsOptions } from './events.js'
export type { RetryOptions } from './http.js'
export type { AgentIdentity } from './identity.js'
export { MnemoError } from './errors.js'
export type * from './types.js'
