/**
 * The kill switch on two instances of one database: the human an agent acts for suspends it on
 * one instance; its sync connections close with 4403 on both, its SSE stream ends, its requests
 * and new connections are refused on both; `agent.suspended` is in the log; after the resume its
 * clients are let back in on both. A suspension outlives a restart: a new instance refuses it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { joinSession, MnemoError } from '../src/agent/index.js'
import { mintToken } from '../src/auth/tokens.js'
import { loadConfig } from '../src/config.js'
import { startServer, type RunningServer } from '../src/main.js'
import { getSelections } from '../src/session/roots.js'
import { select } from '../src/session/write.js'
import { closeOf } from './fixtures/clients.js'
import { databaseAvailable, databaseEnv } from './fixtures/cluster.js'
import { startTwoInstances, type TwoInstances } from './fixtures/instances.js'
import { call } from './fixtures/server.js'
import { readSse, type SseMessage } from './fixtures/sse.js'
import { until } from './fixtures/until.js'
import { mcpTools } from './fixtures/mcp.js'

const SECRET = 'kill-switch-secret-0123456789abcdef-012345'
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })
const SESSION = 'watched'

interface Client {
  doc: Y.Doc
  provider: WebsocketProvider
  closes: { code: number; reason: string }[]
  destroy(): void
}

describe.skipIf(!databaseAvailable)('suspending an agent on two instances', () => {
  let pair: TwoInstances
  let a: RunningServer
  let b: RunningServer
  let restarted: RunningServer | undefined
  let admin: string, alice: string, mallory: string, bot: string
  const clients: Client[] = []

  function connect(server: RunningServer, t: string): Client {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, SESSION, doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { token: t }, maxBackoffTime: 200,
    })
    const closes: Client['closes'] = []
    provider.on('connection-close', (event) => {
      if (event) closes.push({ code: event.code, reason: event.reason })
    })
    const client = { doc, provider, closes, destroy: () => { provider.destroy(); doc.destroy() } }
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    pair = await startTwoInstances({ MNEMO_AUTH_SECRET: SECRET })
    ;({ a, b } = pair)
    admin = await mintToken(SECRET, { sub: 'root', name: 'Root', kind: 'human', role: 'admin' })
    alice = await mintToken(SECRET, { sub: 'alice', name: 'Alice', kind: 'human', role: 'editor' })
    mallory = await mintToken(SECRET, { sub: 'mallory', name: 'Mallory', kind: 'human', role: 'editor' })
    bot = await mintToken(SECRET, { sub: 'bot', name: 'Bot', kind: 'agent', role: 'editor', onBehalfOf: 'alice', model: 'm' })
  })
  afterAll(async () => {
    for (const c of clients) c.destroy()
    await restarted?.close()
    await pair?.close()
  })

  it('cuts the agent off on both instances, and lets it back after the resume', async () => {
    const human = connect(a, alice)
    const onA = connect(a, bot)
    const onB = connect(b, bot)
    await until(() => [human, onA, onB].every((c) => c.provider.synced), { what: 'everyone synced' })
    select(onB.doc, 'm-before', 'bot')
    await until(() => getSelections(human.doc).has('m-before'), { what: 'the agent\'s edit reached alice' })

    let live!: () => void
    const streaming = new Promise<void>((resolve) => (live = resolve))
    const stream = readSse(`${b.url}/api/sessions/${SESSION}/stream`, {
      headers: bearer(bot), onMessage: () => live(), until: (m: SseMessage) => m.event === 'suspended',
    })
    await streaming

    // Only an admin or the human it acts for may.
    const refused = await call(a.url, 'POST', '/api/agents/bot/suspend', { reason: 'x' }, bearer(mallory))
    expect(refused.status).toBe(403)
    expect(refused.body.error.message).toContain('"alice"')

    const suspended = await call(a.url, 'POST', '/api/agents/bot/suspend', { reason: 'it is deleting notes' }, bearer(alice))
    expect(suspended.status).toBe(201)
    expect(suspended.body).toMatchObject({ agent: 'bot', suspended: true, by: { id: 'alice' }, reason: 'it is deleting notes', onBehalfOf: 'alice' })
    expect((await call(a.url, 'POST', '/api/agents/bot/suspend', undefined, bearer(alice))).status).toBe(200) // already

    await until(() => onA.closes.length > 0 && onB.closes.length > 0, { what: 'both connections closed' })
    for (const c of [onA, onB]) expect(c.closes[0]).toEqual({ code: 4403, reason: 'suspended: "bot" is suspended until resumed' })
    expect(human.closes).toEqual([])
    const messages = await stream
    const last = messages.at(-1)!
    expect(last.event).toBe('suspended')
    expect(JSON.parse(last.data).error.code).toBe('agent_suspended')

    for (const server of [a, b]) {
      const request = await call(server.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))
      expect(request.status).toBe(403)
      expect(request.body.error.code).toBe('agent_suspended')
      expect(request.body.error.message).toContain('it is deleting notes')
      const closed = await closeOf(`${server.url.replace('http', 'ws')}/sync/${SESSION}?token=${bot}`)
      expect(closed).toEqual({ code: 4403, reason: 'suspended: "bot" is suspended until resumed' })
    }
    // A stock client stops at a 44xx close; connecting again is refused again, and what it holds never lands.
    select(onA.doc, 'm-while-suspended', 'bot')
    onA.provider.connect()
    await until(() => onA.closes.length === 2, { what: 'the reconnect refused' })
    expect(onA.closes[1]!.code).toBe(4403)
    expect(getSelections(human.doc).has('m-while-suspended')).toBe(false)

    // The record: in the log's agents' stream, which is no session.
    const log = await call(b.url, 'GET', '/api/events?types=agent.*', undefined, bearer(admin))
    expect(log.body.events.map((e: any) => [e.type, e.session, e.actor.id, e.data])).toEqual([
      ['agent.suspended', 'mnemo:agents', 'alice', { agent: 'bot', reason: 'it is deleting notes', onBehalfOf: 'alice' }],
    ])
    const sessions = await call(b.url, 'GET', '/api/sessions', undefined, bearer(admin))
    expect(sessions.body.sessions.map((s: any) => s.id)).toEqual([SESSION])
    expect((await call(b.url, 'GET', '/api/agents', undefined, bearer(admin))).body.suspended.map((s: any) => s.agent)).toEqual(['bot'])
    expect((await call(b.url, 'GET', '/api/agents/bot', undefined, bearer(alice))).body).toMatchObject({ suspended: true, by: { id: 'alice' } })
    expect((await call(a.url, 'POST', '/api/events', turnOf('forged'), bearer(admin))).status).toBe(404)
    const forged = await call(a.url, 'POST', `/api/sessions/${SESSION}/events`, { type: 'agent.resumed', data: { agent: 'bot' } }, bearer(admin))
    expect(forged.status).toBe(400)

    // Resumed on the other instance: its clients connect again on both.
    const resumed = await call(b.url, 'POST', '/api/agents/bot/resume', { reason: 'fixed' }, bearer(alice))
    expect(resumed.status).toBe(200)
    expect(resumed.body).toEqual({ agent: 'bot', suspended: false, resumed: true })
    await until(async () => (await call(a.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))).status === 200, { what: 'instance a let it back' })
    onA.provider.connect()
    onB.provider.connect()
    await until(() => getSelections(human.doc).has('m-while-suspended'), { what: 'the edit made while suspended arrived after the resume' })
    select(onB.doc, 'm-after', 'bot')
    await until(() => getSelections(human.doc).has('m-after'), { what: 'a new edit from instance b arrived' })
    for (const server of [a, b]) {
      expect((await call(server.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))).status).toBe(200)
    }
    const types = (await call(a.url, 'GET', '/api/events?types=agent.*', undefined, bearer(admin))).body.events.map((e: any) => e.type)
    expect(types).toEqual(['agent.suspended', 'agent.resumed'])
  })

  it('a human may lift only a suspension it made; a suspension outlives a restart', async () => {
    expect((await call(a.url, 'POST', '/api/agents/bot/suspend', { reason: 'by the admin' }, bearer(admin))).status).toBe(201)
    const notHers = await call(a.url, 'POST', '/api/agents/bot/resume', undefined, bearer(alice))
    expect(notHers.status).toBe(403)
    expect(notHers.body.error.message).toContain('suspended by "root"')

    await b.close()
    restarted = await startServer(loadConfig({ PORT: '0', HOST: '127.0.0.1', MNEMO_POLL_MS: '200', MNEMO_AUTH_SECRET: SECRET, ...databaseEnv(pair.db) }))
    const request = await call(restarted.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))
    expect(request.status).toBe(403)
    expect(request.body.error.message).toContain('by the admin')
    expect((await call(restarted.url, 'POST', '/api/agents/bot/resume', undefined, bearer(admin))).status).toBe(200)
    await until(async () => (await call(a.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))).status === 200, { what: 'instance a let it back' })
  })

  it('the SDK and MCP flip the switch too, with the same rights', async () => {
    const other = restarted ?? b // the test before restarted instance b
    const human = await joinSession({ url: a.url, session: SESSION, token: alice })
    const intruder = await joinSession({ url: a.url, session: SESSION, token: mallory })
    const tools = await mcpTools(human)
    try {
      const refused = await intruder.suspendAgent('bot').catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(MnemoError)
      expect([(refused as MnemoError).status, (refused as MnemoError).code]).toEqual([403, 'forbidden'])

      expect(await human.suspendAgent('bot', { reason: 'through the SDK' }))
        .toMatchObject({ agent: 'bot', suspended: true, by: { id: 'alice' }, reason: 'through the SDK', onBehalfOf: 'alice' })
      for (const server of [a, other]) {
        await until(async () => (await call(server.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))).status === 403,
          { what: `instance ${server === a ? 'a' : 'b'} refusing the agent` })
      }

      expect(await tools.json('resume_agent', { agent: 'bot' })).toEqual({ agent: 'bot', suspended: false, resumed: true })
      await until(async () => (await call(other.url, 'GET', `/api/sessions/${SESSION}`, undefined, bearer(bot))).status === 200, { what: 'the agent let back' })
      expect(await tools.json('suspend_agent', { agent: 'bot', reason: 'through MCP' })).toMatchObject({ agent: 'bot', suspended: true, reason: 'through MCP' })
      expect((await tools.json('resume_agent', { agent: 'bot' })).resumed).toBe(true)
      const types = (await call(a.url, 'GET', '/api/events?types=agent.*', undefined, bearer(admin))).body.events.map((e: any) => [e.type, e.actor.id])
      expect(types.slice(-4)).toEqual([['agent.suspended', 'alice'], ['agent.resumed', 'alice'], ['agent.suspended', 'alice'], ['agent.resumed', 'alice']])
    } finally {
      await tools.close()
      await human.close()
      await intruder.close()
    }
  })
})

function turnOf(content: string) {
  return { type: 'conversation.turn', data: { role: 'agent', content } }
}
