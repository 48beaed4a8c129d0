/**
 * MCP over Streamable HTTP (`/mcp`): the MCP sessions this instance serves, each an McpServer
 * on the MCP SDK's web-standard transport, bound to the identity that opened it. Behind every
 * MCP session is an AgentSession that joins this very server over HTTP and WebSocket with the
 * caller's own token (or open mode's self-description): the same door as any SDK agent, so
 * every guarantee holds unchanged — stored before anyone sees it, attributed to the token's
 * actor, its `can` scope, budget and suspension checked where they always are.
 *
 * `?session=<id>` serves that session's tools and resources (what `mnemo mcp --session` serves);
 * without it every tool takes a `session` argument and the sessions are joined on first use (at
 * most MAX_JOINED at once: the least recently used is left). An MCP session is one run unless the
 * caller names one (`?run=`, `X-Mnemo-Run`, or its token's `run` claim). It closes, and its
 * AgentSessions with it, on `DELETE /mcp`, after `idleMs` without a request, when its identity is
 * suspended, and on shutdown; an identity holds at most `maxPerIdentity` of them.
 */
import { randomUUID } from 'node:crypto'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { joinSession, type AgentSession } from '../agent/joinSession.js'
import { createMcpServer } from '../agent/mcpServer.js'
import { createAnySessionMcpServer } from '../agent/mcpAnySession.js'
import { MnemoError } from '../agent/errors.js'
import type { Identity } from '../auth/identity.js'
import { assertCan } from '../auth/roles.js'
import type { Suspensions } from '../control/suspensions.js'
import type { Logger } from '../log.js'
import { sessionIdPattern } from '../vocabulary.js'
import { badRequest, HttpError } from './errors.js'
import { header } from './headers.js'

/** Sessions one MCP session without `?session=` keeps joined at once. */
export const MAX_JOINED = 16

export interface McpSessionsOptions {
  /** `token`: join with the caller's bearer token; `open`: with the identity it named. */
  auth: 'token' | 'open'
  /** This server's own base URL, once it listens: the AgentSessions join it. */
  selfUrl(): string | undefined
  idleMs: number
  maxPerIdentity: number
  suspensions?: Suspensions
  log: Logger
}

export interface McpSessions {
  /** Answers one request to `/mcp` (POST, GET or DELETE) by the identity `identify` found. */
  handle(c: Context): Promise<Response>
  /** MCP sessions open now. */
  count(): number
  /** Closes every MCP session (and its AgentSessions); later requests are refused with 503. */
  close(): Promise<void>
}

type Credentials = { token?: string; id?: string; name?: string; kind?: Identity['kind'] }

interface Entry {
  id: string
  identity: Identity
  server: McpServer
  transport: WebStandardStreamableHTTPServerTransport
  /** The AgentSessions joined, by session id, least recently used first. */
  joined: Map<string, Promise<AgentSession>>
  /** What the AgentSessions join with; a token is renewed by every request (the latest one joins). */
  credentials: Credentials
  timer: NodeJS.Timeout
  unwatch(): void
  closing?: Promise<void>
}

export function createMcpSessions(options: McpSessionsOptions): McpSessions {
  const { auth, idleMs, maxPerIdentity, log } = options
  const entries = new Map<string, Entry>()
  let closed = false

  function close(entry: Entry): Promise<void> {
    if (entry.closing) return entry.closing
    entries.delete(entry.id)
    clearTimeout(entry.timer)
    entry.unwatch()
    // Set before anything runs: closing the server closes the transport, whose onclose comes back here.
    entry.closing = Promise.resolve().then(async () => {
      await entry.server.close().catch(() => {})
      await Promise.all([...entry.joined.values()].map((joined) => joined.then((s) => s.close(), () => {})))
      entry.joined.clear()
    })
    return entry.closing
  }

  /** Joins `session` as the entry's caller, through this server's own doors. */
  function joiner(entry: Pick<Entry, 'identity' | 'joined' | 'credentials'>, run: string) {
    async function join(session: string): Promise<AgentSession> {
      assertCan(entry.identity, 'read', session)
      const url = options.selfUrl()
      if (url === undefined) throw new HttpError(503, 'starting', 'the server is still starting; try again shortly', { 'Retry-After': '1' })
      return joinSession({ url, session, run, ...entry.credentials })
    }
    return (session: string): Promise<AgentSession> => {
      let joined = entry.joined.get(session)
      if (joined) {
        entry.joined.delete(session) // to the end: most recently used
      } else {
        joined = join(session)
        joined.catch(() => entry.joined.get(session) === joined && entry.joined.delete(session))
        if (entry.joined.size >= MAX_JOINED) {
          const [oldest, leaving] = entry.joined.entries().next().value!
          entry.joined.delete(oldest)
          void leaving.then((s) => s.close(), () => {})
        }
      }
      entry.joined.set(session, joined)
      return joined
    }
  }

  /** MCP sessions being opened, by identity: counted against the cap while their session is joined. */
  const opening = new Map<string, number>()

  async function open(c: Context, identity: Identity, body: unknown): Promise<Response> {
    const open = [...entries.values()].filter((e) => e.identity.id === identity.id).length + (opening.get(identity.id) ?? 0)
    if (open >= maxPerIdentity) {
      throw new HttpError(429, 'too_many_mcp_sessions', `"${identity.id}" holds ${open} MCP sessions on this instance, the most allowed ` +
        `(MNEMO_MCP_SESSIONS_PER_IDENTITY): close one with DELETE /mcp and its Mcp-Session-Id, or wait for an idle one to time out`)
    }
    const session = c.req.query('session')
    if (session !== undefined && !sessionIdPattern.test(session)) {
      throw badRequest(`query "session" must be a session id, 1 to 128 of A-Z a-z 0-9 _ - (got ${JSON.stringify(session.slice(0, 140))})`, 'invalid_session_id')
    }
    const run = identity.run ?? `run-${randomUUID().slice(0, 8)}`
    const id = randomUUID()
    const joined = new Map<string, Promise<AgentSession>>()
    const credentials = credentialsOf(c, identity)
    const sessionOf = joiner({ identity, joined, credentials }, run)
    let server: McpServer
    if (session === undefined) {
      server = createAnySessionMcpServer({ me: identity, sessionOf })
    } else {
      assertCan(identity, 'read', session)
      opening.set(identity.id, (opening.get(identity.id) ?? 0) + 1)
      let agent: AgentSession
      try {
        agent = await sessionOf(session).catch((error: unknown) => { throw asHttpError(error) })
      } finally {
        const left = opening.get(identity.id)! - 1
        if (left === 0) opening.delete(identity.id)
        else opening.set(identity.id, left)
      }
      if (closed) {
        await agent.close()
        throw shuttingDown()
      }
      server = createMcpServer(agent)
    }
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => id })
    const entry: Entry = {
      id, identity, server, transport, joined, credentials,
      timer: setTimeout(() => void close(entry), idleMs).unref(),
      unwatch: options.suspensions?.watch(identity.id, () => void close(entry)) ?? (() => {}),
    }
    entries.set(id, entry)
    transport.onclose = () => void close(entry)
    try {
      await server.connect(transport)
      const response = await transport.handleRequest(c.req.raw, { parsedBody: body })
      // An initialize the transport refused (a bad protocol version, say) opened nothing.
      if (transport.sessionId === undefined) void close(entry)
      else log.debug({ mcpSession: id, identity: identity.id, session, run }, 'MCP session opened')
      return response
    } catch (error) {
      await close(entry)
      throw error
    }
  }

  function credentialsOf(c: Context, identity: Identity): Credentials {
    return auth === 'token' ? { token: bearerOf(c) } : { id: identity.id, name: identity.name, kind: identity.kind }
  }

  return {
    async handle(c) {
      if (closed) throw shuttingDown()
      const identity = c.get('identity')
      // Checked before anything is joined (the transport would check them only after).
      if (c.req.method === 'POST') assertPostHeaders(c)
      const body = c.req.method === 'POST' ? await readJson(c) : undefined
      const id = header(c, 'mcp-session-id')
      if (id === undefined) {
        if (c.req.method === 'POST' && (Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body))) return open(c, identity, body)
        throw badRequest(`${c.req.method} /mcp needs an Mcp-Session-Id header: POST an MCP initialize request first, then send the id it answers`, 'mcp_session_required')
      }
      const entry = entries.get(id)
      if (!entry) {
        throw new HttpError(404, 'mcp_session_not_found', `MCP session ${JSON.stringify(id.slice(0, 64))} is not open on this instance ` +
          '(closed, idle too long, or opened on another instance): initialize a new one')
      }
      // Open mode has no credentials to compare: anyone may name any identity there.
      if (auth === 'token' && entry.identity.id !== identity.id) {
        throw new HttpError(403, 'forbidden', `this MCP session belongs to another identity than "${identity.id}": initialize your own`)
      }
      entry.timer.refresh()
      if (auth === 'token') entry.credentials.token = bearerOf(c)
      return entry.transport.handleRequest(c.req.raw, body === undefined ? undefined : { parsedBody: body })
    },
    count: () => entries.size,
    async close() {
      closed = true
      await Promise.all([...entries.values()].map(close))
    },
  }
}

const shuttingDown = () =>
  new HttpError(503, 'shutting_down', 'this instance is shutting down: open the MCP session again (elsewhere)', { 'Retry-After': '1' })

/** What the Streamable HTTP transport asks of a POST, in this API's error shape. */
function assertPostHeaders(c: Context): void {
  const type = header(c, 'content-type')?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new HttpError(415, 'unsupported_media_type', `POST /mcp takes Content-Type: application/json (got ${JSON.stringify(type ?? null)})`)
  }
  const accept = header(c, 'accept') ?? ''
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    throw new HttpError(406, 'not_acceptable', 'POST /mcp answers JSON or an SSE stream: send Accept: application/json, text/event-stream')
  }
}

async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json()
  } catch {
    throw badRequest('the body must be a JSON-RPC message (or a batch of them) as JSON', 'invalid_json')
  }
}

/** The caller's token as `identify` read it: the Authorization header's, else `?token=`. */
function bearerOf(c: Context): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header(c, 'authorization')?.trim() ?? '')?.[1] ?? c.req.query('token')
}

/** A refused join as the HTTP error it stands for (a network or timeout failure: 502). */
function asHttpError(error: unknown): unknown {
  if (!(error instanceof MnemoError)) return error
  const status = (error.status >= 400 && error.status < 600 ? error.status : 502) as ContentfulStatusCode
  return new HttpError(status, error.code, `joining the session failed: ${error.message}`)
}
