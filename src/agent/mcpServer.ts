/**
 * mnemo as an MCP server: the SDK's operations as tools and the session's context summary
 * and state as resources, so any MCP-capable model works in a session with no code.
 * `runMcpServer` joins the session and serves over stdio; stdout is the MCP channel, so
 * everything else goes to stderr.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js'
import { joinSession, type AgentSession, type JoinOptions } from './joinSession.js'
import { registerSessionTools } from './mcpTools.js'

export interface McpServerOptions {
  /** Reported to the MCP client; default `mnemo`. */
  name?: string
  version?: string
}

/**
 * An McpServer bound to a joined session; connect it to any transport.
 *
 * @example
 * const server = createMcpServer(await joinSession({ url, session, token }))
 * await server.connect(new StdioServerTransport())
 */
export function createMcpServer(session: AgentSession, options: McpServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: options.name ?? 'mnemo', version: options.version ?? '0.1.0' },
    { instructions: instructions(session.me, `the mnemo session "${session.session}"`) },
  )
  server.registerResource('session-context', `mnemo://session/${session.session}/context`, {
    title: `Session ${session.session}: context`, ...CONTEXT_RESOURCE,
  }, (uri) => readContext(session, uri))
  server.registerResource('session-state', `mnemo://session/${session.session}/state`, {
    title: `Session ${session.session}: document`, ...STATE_RESOURCE,
  }, (uri) => readDocument(session, uri))
  registerSessionTools(server, session)
  return server
}

/** What the model is told first: who it is in the session(s), and how to write safely. */
export function instructions(me: { id: string; name: string }, where: string): string {
  return `You are a participant in ${where} as ${me.name} (${me.id}). ` +
    'Read get_context first. Edits (select, explore, annotate, vote) are seen live by everyone in the session; ' +
    'memory tools record what you learn in the session\'s log. Give a short rationale with each write, and pass the ' +
    '`version` get_state gave you as `basedOn` when the write relies on what you read: if someone changed it since, ' +
    'the write is refused and says who changed what; read again. blame and activity show who changed what; ' +
    'revert_run takes one of your runs back (dryRun first).'
}

export const CONTEXT_RESOURCE = {
  description: 'Participants, selections, exploration path, open annotations, decisions and recent memory events',
  mimeType: 'text/markdown',
}

export const STATE_RESOURCE = { description: 'The shared session document as JSON', mimeType: 'application/json' }

export async function readContext(session: AgentSession, uri: URL): Promise<ReadResourceResult> {
  return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: await session.context({ format: 'md' }) }] }
}

export async function readDocument(session: AgentSession, uri: URL): Promise<ReadResourceResult> {
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(session.state(), null, 2) }] }
}

export interface RunningMcpServer {
  server: McpServer
  session: AgentSession
  /** Closes the transport and the session. */
  close(): Promise<void>
}

/** Joins the session, then serves MCP over stdin/stdout until stdin ends or `close()`. */
export async function runMcpServer(join: JoinOptions, options: McpServerOptions = {}): Promise<RunningMcpServer> {
  const session = await joinSession({ kind: 'agent', ...join })
  const server = createMcpServer(session, options)
  const transport = new StdioServerTransport()
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      await server.close().catch(() => {})
      await session.close()
    })()
    return closing
  }
  server.server.onclose = () => void close()
  await server.connect(transport)
  return { server, session, close }
}
