/**
 * An MCP server for any session: the very tools `createMcpServer` registers for one session
 * (mcpTools.ts), each with a `session` argument added, and the resources as URI templates
 * (`mnemo://session/{session}/context`). A call resolves its session's AgentSession (joined on
 * first use by `sessionOf`) and runs the one-session tool against it: the tools reach their
 * session through a stand-in that reads the call's session from an AsyncLocalStorage, so a
 * tool registered later in mcpTools.ts appears here too, unchanged.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { sessionIdPattern } from '../vocabulary.js'
import type { AgentSession } from './joinSession.js'
import { CONTEXT_RESOURCE, instructions, readContext, readDocument, STATE_RESOURCE, type McpServerOptions } from './mcpServer.js'
import { registerSessionTools, toolError, type ToolRegistry } from './mcpTools.js'

export interface AnySessionMcpOptions extends McpServerOptions {
  /** Who the tools speak as, for the instructions. */
  me: { id: string; name: string }
  /** The AgentSession of a session id, joined on first use (and kept, or not, as the caller decides). */
  sessionOf(session: string): Promise<AgentSession>
}

const sessionArgument = z.string().regex(sessionIdPattern, 'a session id: 1 to 128 of A-Z a-z 0-9 _ -')
  .describe('The session to work in (its id)')

/**
 * An McpServer whose every tool takes `session`; connect it to any transport.
 *
 * @example
 * const server = createAnySessionMcpServer({ me, sessionOf: (session) => joinSession({ url, session, token }) })
 */
export function createAnySessionMcpServer(options: AnySessionMcpOptions): McpServer {
  const { me, sessionOf } = options
  const server = new McpServer(
    { name: options.name ?? 'mnemo', version: options.version ?? '0.1.0' },
    { instructions: `${instructions(me, 'mnemo sessions')} Every tool takes \`session\`, the id of the session it works in.` },
  )
  const template = (what: string) => new ResourceTemplate(`mnemo://session/{session}/${what}`, { list: undefined })
  const resolve = (variables: Record<string, string | string[]>) => {
    const session = String(variables.session)
    if (!sessionIdPattern.test(session)) throw new Error(`"${session.slice(0, 140)}" is no session id (1 to 128 of A-Z a-z 0-9 _ -)`)
    return sessionOf(session)
  }
  server.registerResource('session-context', template('context'), { title: 'A session\'s context', ...CONTEXT_RESOURCE },
    async (uri, variables) => readContext(await resolve(variables), uri))
  server.registerResource('session-state', template('state'), { title: 'A session\'s document', ...STATE_RESOURCE },
    async (uri, variables) => readDocument(await resolve(variables), uri))

  const current = new AsyncLocalStorage<AgentSession>()
  registerSessionTools(withSessionArgument(server, sessionOf, current), standIn(current))
  return server
}

/** A registry that adds `session` to each tool's input and runs the tool with that session current. */
function withSessionArgument(
  server: McpServer, sessionOf: (session: string) => Promise<AgentSession>, current: AsyncLocalStorage<AgentSession>,
): ToolRegistry {
  type Callback = (...args: unknown[]) => unknown
  const registerTool = (name: string, config: { inputSchema?: unknown }, callback: Callback) => {
    const input = config.inputSchema
    const inputSchema = input instanceof z.ZodObject
      ? input.extend({ session: sessionArgument })
      : { session: sessionArgument, ...(input as z.ZodRawShape | undefined) }
    return server.registerTool(name, { ...config, inputSchema } as never, (async ({ session, ...args }: { session: string }, extra: unknown) => {
      let s: AgentSession
      try {
        s = await sessionOf(session)
      } catch (error) {
        return toolError(error)
      }
      // A tool registered without input is called with `extra` alone.
      return current.run(s, () => (input === undefined ? callback(extra) : callback(args, extra)))
    }) as never)
  }
  return { registerTool } as unknown as ToolRegistry
}

/** An AgentSession that is, at every access, the one of the tool call under way. */
function standIn(current: AsyncLocalStorage<AgentSession>): AgentSession {
  return new Proxy({} as AgentSession, {
    get(_, property) {
      const session = current.getStore()
      if (!session) throw new Error('no session: a session tool was called outside its call')
      const value = Reflect.get(session, property) as unknown
      return typeof value === 'function' ? value.bind(session) : value
    },
  })
}
