/**
 * MCP over Streamable HTTP at `/mcp`, as an MCP client from the official SDK sees it against a
 * live server in token mode: the same tools as `mnemo mcp`, writes attributed to the token's
 * actor, stale writes refused, `session` as an argument without `?session=`, 401 without a
 * token, a suspended agent cut off, and every MCP session's sync connection gone once it closes
 * (by DELETE, by idling, or by the server's shutdown), with a cap per identity.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerSessionTools, type ToolRegistry } from '../src/agent/mcpTools.js'
import type { AgentSession } from '../src/agent/joinSession.js'
import { mintToken } from '../src/auth/tokens.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'an-mcp-http-test-secret-at-least-32-bytes'

/** The tools `mnemo mcp --session` serves: whatever mcpTools.ts registers. */
function sessionToolNames(): string[] {
  const names: string[] = []
  registerSessionTools({ registerTool: (name: string) => void names.push(name) } as unknown as ToolRegistry, {} as AgentSession)
  return names.sort()
}

const text = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text
const json = (result: unknown) => JSON.parse(text(result))

interface Connected {
  client: Client
  transport: StreamableHTTPClientTransport
  use(name: string, args?: Record<string, unknown>): Promise<CallToolResult>
  /** DELETE /mcp, then the client closes. */
  end(): Promise<void>
}

async function connect(server: TestServer, token: string | Record<string, string>, query = ''): Promise<Connected> {
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp${query}`), {
    requestInit: { headers: typeof token === 'string' ? { authorization: `Bearer ${token}` } : token },
  })
  const client = new Client({ name: 'mnemo-http-test', version: '1.0.0' })
  await client.connect(transport)
  return {
    client,
    transport,
    use: async (name, args = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    async end() {
      await transport.terminateSession()
      await client.close()
    },
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describe('MCP over Streamable HTTP', () => {
  let server: TestServer
  let agent: string
  let human: string
  let admin: string
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET })
    agent = await mintToken(SECRET, { sub: 'desk-bot', name: 'Desk bot', kind: 'agent', role: 'editor', onBehalfOf: 'ada' })
    human = await mintToken(SECRET, { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor' })
    admin = await mintToken(SECRET, { sub: 'root', name: 'Root', kind: 'human', role: 'admin' })
  }, 60_000)
  afterAll(async () => {
    await server?.stop()
  })

  const docUpdates = async (session: string) =>
    (await call(server.url, 'GET', `/api/sessions/${session}/events?types=doc.update`, undefined, bearer(admin))).body.events as any[]

  it('serves one session\'s tools with ?session=, its writes attributed to the token\'s actor; a stale write is refused', async () => {
    const mcp = await connect(server, agent, '?session=h1&run=h1-run')
    try {
      const { tools } = await mcp.client.listTools()
      expect(tools.map((t) => t.name).sort()).toEqual(sessionToolNames())
      expect(tools.find((t) => t.name === 'select_memory')!.inputSchema.properties).not.toHaveProperty('session')
      const { resources } = await mcp.client.listResources()
      expect(resources.map((r) => r.uri).sort()).toEqual(['mnemo://session/h1/context', 'mnemo://session/h1/state'])

      const state = json(await mcp.use('get_state'))
      expect(state).toMatchObject({ version: expect.any(Number), selections: {} })

      const selected = await mcp.use('select_memory', { memoryId: 'm-1', rationale: 'the newest report' })
      expect(selected.isError).toBeFalsy()
      await until(async () => (await docUpdates('h1')).some((e) => e.data.changes?.some((c: any) => c.key === 'm-1')), { what: 'the selection in the log' })
      const [update] = (await docUpdates('h1')).filter((e) => e.data.changes?.some((c: any) => c.key === 'm-1'))
      expect(update.actor).toEqual({ id: 'desk-bot', name: 'Desk bot', kind: 'agent', onBehalfOf: 'ada', run: 'h1-run' })

      // Ada changes m-2 after the version the agent read: its write based on that version is refused.
      const read = json(await mcp.use('get_state')).version
      const ada = await call(server.url, 'POST', '/api/sessions/h1/doc', { ops: [{ op: 'select', memoryId: 'm-2' }] }, bearer(human))
      expect(ada.status).toBe(201)
      const stale = await mcp.use('deselect_memory', { memoryId: 'm-2', basedOn: read })
      expect(stale.isError).toBe(true)
      expect(text(stale)).toMatch(/stale write: selections "m-2" was changed by Ada \(ada\)/)
      expect(text(stale)).toContain('stale_write')
      const fresh = json(await mcp.use('get_state')).version
      expect((await mcp.use('deselect_memory', { memoryId: 'm-2', basedOn: fresh })).isError).toBeFalsy()

      const context = await mcp.client.readResource({ uri: 'mnemo://session/h1/context' })
      expect((context.contents[0] as { text: string }).text).toContain('Desk bot')
    } finally {
      await mcp.end()
    }
    await until(() => server.mcp.count() === 0 && server.rooms.stats().connections === 0, {
      what: 'the MCP session and its sync connection closed', explain: () => ({ mcp: server.mcp.count(), ...server.rooms.stats() }),
    })
  })

  it('without ?session= every tool takes `session`, and joins the sessions it names', async () => {
    const mcp = await connect(server, agent)
    try {
      const { tools } = await mcp.client.listTools()
      expect(tools.map((t) => t.name).sort()).toEqual(sessionToolNames())
      for (const tool of tools) expect(tool.inputSchema.required, tool.name).toContain('session')
      const { resourceTemplates } = await mcp.client.listResourceTemplates()
      expect(resourceTemplates.map((r) => r.uriTemplate).sort()).toEqual(['mnemo://session/{session}/context', 'mnemo://session/{session}/state'])

      expect((await mcp.use('select_memory', { session: 'h2', memoryId: 'm-a' })).isError).toBeFalsy()
      expect((await mcp.use('annotate_memory', { session: 'h3', target: 'm-b', text: 'worth a look' })).isError).toBeFalsy()
      expect(Object.keys(json(await mcp.use('get_state', { session: 'h2' })).selections)).toEqual(['m-a'])
      expect(Object.values(json(await mcp.use('get_state', { session: 'h3' })).annotations)).toMatchObject([{ text: 'worth a look', author: 'desk-bot' }])
      await until(() => server.rooms.stats().connections === 2, { what: 'one sync connection per session named' })
      const state = await mcp.client.readResource({ uri: 'mnemo://session/h2/state' })
      expect(JSON.parse((state.contents[0] as { text: string }).text).selections).toHaveProperty('m-a')

      const missing = await mcp.use('get_state')
      expect(missing.isError).toBe(true)
      expect(text(missing)).toContain('session')
      const invalid = await mcp.use('get_state', { session: 'not a session!' })
      expect(invalid.isError).toBe(true)
    } finally {
      await mcp.end()
    }
    await until(() => server.mcp.count() === 0 && server.rooms.stats().connections === 0, {
      what: 'both sync connections closed with the MCP session', explain: () => ({ mcp: server.mcp.count(), ...server.rooms.stats() }),
    })
  })

  it('refuses a missing or bad token with 401 and bad requests with 400, 404 and 403', async () => {
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }
    const accept = { accept: 'application/json, text/event-stream' }
    const none = await call(server.url, 'POST', '/mcp', initialize, accept)
    expect(none.status).toBe(401)
    expect(none.body.error.code).toBe('token_missing')
    const bad = await call(server.url, 'POST', '/mcp', initialize, { ...accept, authorization: 'Bearer not-a-token' })
    expect(bad.status).toBe(401)
    await expect(connect(server, 'not-a-token')).rejects.toMatchObject({ code: 401, message: expect.stringContaining('token_invalid') })

    const plain = await call(server.url, 'POST', '/mcp', JSON.stringify(initialize), { ...accept, ...bearer(agent), 'content-type': 'text/plain' })
    expect(plain.status).toBe(415)
    expect(plain.body.error.code).toBe('unsupported_media_type')
    const noAccept = await call(server.url, 'POST', '/mcp?session=h6', initialize, bearer(agent))
    expect(noAccept.status).toBe(406)
    expect(noAccept.body.error.message).toContain('text/event-stream')
    expect(server.mcp.count()).toBe(0)
    const notJson = await call(server.url, 'POST', '/mcp', '{"jsonrpc":', { ...accept, ...bearer(agent), 'content-type': 'application/json' })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error.code).toBe('invalid_json')
    const first = await call(server.url, 'POST', '/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...accept, ...bearer(agent) })
    expect(first.status).toBe(400)
    expect(first.body.error).toMatchObject({ code: 'mcp_session_required', message: expect.stringContaining('initialize') })
    const badSession = await call(server.url, 'POST', '/mcp?session=a%20b', initialize, { ...accept, ...bearer(agent) })
    expect(badSession.status).toBe(400)
    expect(badSession.body.error.message).toContain('query "session"')
    const unknown = await call(server.url, 'GET', '/mcp', undefined, { ...accept, ...bearer(agent), 'mcp-session-id': 'nope' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('mcp_session_not_found')

    // Someone else's MCP session is not yours.
    const mcp = await connect(server, agent, '?session=h4')
    try {
      const theirs = await call(server.url, 'DELETE', '/mcp', undefined, { ...bearer(human), 'mcp-session-id': mcp.transport.sessionId! })
      expect(theirs.status).toBe(403)
      expect((await mcp.use('get_state')).isError).toBeFalsy()
    } finally {
      await mcp.end()
    }
  })

  it('cuts off a suspended agent: its MCP session closes with its connection, a new one is refused 403', async () => {
    const bot = await mintToken(SECRET, { sub: 'rogue-bot', name: 'Rogue', kind: 'agent', role: 'editor', onBehalfOf: 'ada' })
    const mcp = await connect(server, bot, '?session=h5')
    try {
      expect((await mcp.use('select_memory', { memoryId: 'm-1' })).isError).toBeFalsy()
      await until(() => server.rooms.stats().connections === 1, { what: 'the agent\'s sync connection' })
      expect((await call(server.url, 'POST', '/api/agents/rogue-bot/suspend', { reason: 'runaway' }, bearer(human))).status).toBe(201)
      await until(() => server.mcp.count() === 0 && server.rooms.stats().connections === 0, { what: 'the suspended agent\'s MCP session closed' })
      await expect(mcp.use('get_state')).rejects.toThrow(/403|agent_suspended/)
      await expect(connect(server, bot, '?session=h5')).rejects.toMatchObject({ code: 403, message: expect.stringContaining('agent_suspended') })
      const refused = await call(server.url, 'POST', '/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, bearer(bot))
      expect(refused.body.error.code).toBe('agent_suspended')
    } finally {
      await mcp.client.close()
      await call(server.url, 'POST', '/api/agents/rogue-bot/resume', undefined, bearer(human))
    }
  })

  it('is in the OpenAPI description', async () => {
    const { body } = await call(server.url, 'GET', '/openapi.json')
    expect(Object.keys(body.paths['/mcp']).sort()).toEqual(['delete', 'get', 'post'])
  })
})

describe('MCP sessions over HTTP: limits and shutdown', () => {
  it('caps them per identity, closes an idle one, and closes the rest on shutdown', async () => {
    const server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET, MNEMO_MCP_SESSIONS_PER_IDENTITY: '2', MNEMO_MCP_IDLE_MS: '1000' })
    const open: Connected[] = []
    try {
      const token = await mintToken(SECRET, { sub: 'capped', name: 'Capped', kind: 'agent', role: 'editor' })
      open.push(await connect(server, token, '?session=c1'), await connect(server, token))
      await expect(connect(server, token)).rejects.toMatchObject({ code: 429, message: expect.stringContaining('too_many_mcp_sessions') })
      // Idle for a second: both close, with the sync connection behind the first.
      await until(() => server.mcp.count() === 0 && server.rooms.stats().connections === 0, { what: 'the idle MCP sessions closed' })
      await expect(open[0]!.use('get_state')).rejects.toMatchObject({ code: 404 })

      const last = await connect(server, token, '?session=c1')
      open.push(last)
      expect((await last.use('select_memory', { memoryId: 'm-before-shutdown' })).isError).toBeFalsy()
      expect(server.mcp.count()).toBe(1)
      await server.close()
      expect(server.mcp.count()).toBe(0)
    } finally {
      for (const mcp of open) await mcp.client.close()
      await server.stop()
    }
  }, 60_000)
})

describe('MCP over HTTP in open mode', () => {
  it('joins as the identity the caller names, and attributes its writes to it', async () => {
    const server = await startTestServer()
    try {
      const mcp = await connect(server, { 'x-mnemo-id': 'local-bot', 'x-mnemo-name': 'Local bot', 'x-mnemo-kind': 'agent' }, '?session=o1')
      try {
        expect((await mcp.use('select_memory', { memoryId: 'm-open' })).isError).toBeFalsy()
        await until(async () => (await server.store.read('o1', { after: 0, limit: 100 })).some((e) => e.type === 'doc.update'), { what: 'the update stored' })
        const update = (await server.store.read('o1', { after: 0, limit: 100 })).find((e) => e.type === 'doc.update')!
        expect(update.actor).toMatchObject({ id: 'local-bot', name: 'Local bot', kind: 'agent', run: expect.stringMatching(/^run-/) })
      } finally {
        await mcp.end()
      }
      await until(() => server.mcp.count() === 0 && server.rooms.stats().connections === 0, { what: 'closed' })
    } finally {
      await server.stop()
    }
  }, 60_000)
})
