/**
 * The agent SDK against a live server in open mode: every operation reaches a second, stock
 * y-websocket client (and the log); presence and participants; errors; and the events
 * iterator resuming without gaps or duplicates after its connection drops (through a proxy).
 */
import { createServer, Socket, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { joinSession, MnemoError, type AgentSession, type EventEnvelope } from '../src/agent/index.js'
import { propose } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { select } from '../src/session/write.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'


/** A TCP proxy to the server whose connections a test can cut, and refuse for a while. */
async function startProxy(port: number) {
  const sockets = new Set<Socket>()
  let refusing = false
  let accepted = 0
  let refused = 0
  const server: Server = createServer((client) => {
    if (refusing) {
      refused += 1
      return void client.destroy()
    }
    accepted += 1
    const upstream = new Socket()
    upstream.connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const address = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    accepted: () => accepted,
    refused: () => refused,
    cut(refuse: boolean) {
      refusing = refuse
      for (const s of sockets) s.destroy()
    },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy()
      server.close(() => r())
    }),
  }
}

describe('the agent SDK in open mode', () => {
  let server: TestServer
  const providers: WebsocketProvider[] = []
  const sessions: AgentSession[] = []
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(async () => {
    for (const s of sessions) await s.close()
    for (const p of providers) p.destroy()
    await server.stop()
  })

  const human = (session: string) => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, session, doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { id: 'ada', name: 'Ada', kind: 'human' },
    })
    providers.push(provider)
    return { doc, provider, synced: new Promise<void>((r) => provider.on('sync', (s: boolean) => s && r())) }
  }
  const join = async (session: string, extra: Partial<Parameters<typeof joinSession>[0]> = {}) => {
    const s = await joinSession({ url: server.url, session, id: 'nav', name: 'Navigator', run: 'r-1', ...extra })
    sessions.push(s)
    return s
  }

  it('makes every document operation visible to a stock y-websocket client', async () => {
    const ada = human('visible')
    await ada.synced
    const s = await join('visible')
    const remote: boolean[] = []
    s.onChange((_state, change) => remote.push(change.local))
    await s.select('m-1')
    await s.select('m-2')
    await s.deselect('m-2')
    await s.explore('m-1', 'started here')
    const note = await s.annotate('m-1', 'cold cache')
    const done = await s.annotate('m-1', 'fixed')
    await s.resolve(done)
    const decision = await s.propose({ question: 'roll back?', options: ['yes', 'no'], quorum: 2 })
    await s.vote(decision, 'yes')
    const dropped = await s.propose({ question: 'page someone?', options: ['now', 'later'], quorum: 1 })
    await s.reject(dropped)
    await until(() => readState(ada.doc).decisions[dropped]?.status === 'rejected')
    const seen = readState(ada.doc)
    expect(seen.selections).toEqual({ 'm-1': { by: 'nav', at: expect.any(Number) } })
    expect(seen.explorationPath).toEqual([{ memoryId: 'm-1', by: 'nav', at: expect.any(Number), note: 'started here' }])
    expect(seen.annotations[note]).toMatchObject({ target: 'm-1', author: 'nav', text: 'cold cache', resolved: false })
    expect(seen.annotations[done]!.resolved).toBe(true)
    expect(seen.decisions[decision]).toMatchObject({ createdBy: 'nav', votes: { nav: 'yes' }, status: 'open', quorum: 2 })
    expect(seen).toEqual(s.state())
    // The human's vote reaches the agent, and the server (a peer) accepts the decision.
    propose(ada.doc, { id: 'from-ada', question: 'more logs?', options: ['y', 'n'], quorum: 5, createdBy: 'ada' })
    select(ada.doc, 'm-3', 'ada')
    await until(() => s.state().selections['m-3']?.by === 'ada' && s.state().decisions['from-ada'] !== undefined)
    await s.vote('from-ada', 'y')
    const yes = ada.doc.getMap('decisions').get(decision) as Y.Map<Y.Map<string>>
    ada.doc.transact(() => yes.get('votes')!.set('ada', 'yes'))
    await until(() => s.state().decisions[decision]?.status === 'accepted')
    expect(s.state().decisions[decision]!.outcome).toBe('yes')
    expect(remote).toContain(true)
    expect(remote).toContain(false)
    const { events } = (await call(server.url, 'GET', '/api/sessions/visible/events?types=doc.update&limit=1000')).body
    expect(events.filter((e: any) => e.actor.id === 'nav').every((e: any) => e.actor.kind === 'agent' && e.actor.run === 'r-1')).toBe(true)
  })

  it('shows its presence to humans and lists participants with theirs', async () => {
    const ada = human('presence')
    await ada.synced
    ada.provider.awareness.setLocalStateField('status', 'reading')
    const s = await join('presence', { presence: { status: 'starting' } })
    s.presence({ status: 'thinking', focus: 'm-1' })
    const agentState = () => [...ada.provider.awareness.getStates().values()].find((st) => st.user?.id === 'nav')
    await until(() => agentState()?.status === 'thinking')
    expect(agentState()).toMatchObject({ status: 'thinking', focus: 'm-1', user: { id: 'nav', name: 'Navigator', kind: 'agent' } })
    await until(async () => (await s.participants()).some((p) => p.id === 'ada' && p.presence?.status === 'reading'))
    const participants = await s.participants()
    expect(participants.find((p) => p.id === 'nav')).toMatchObject({ online: true, kind: 'agent', presence: { status: 'thinking', focus: 'm-1' } })
    expect(participants.find((p) => p.id === 'ada')).toMatchObject({ name: 'Ada', kind: 'human', online: true })
  })

  it('records memory events, cascades, turns and searches, and reads the context', async () => {
    const s = await join('memory')
    const a = await s.formMemory({ memoryId: 'm-a', content: 'cache misses spike after the deploy', importance: 0.9, tags: ['cache'] }, { rationale: 'seen in the dashboards' })
    const b = await s.formMemory({ content: 'the deploy changed the cache key', connections: [{ to: 'm-a', strength: 0.8 }] })
    expect(a.memoryId).toBe('m-a')
    expect(a.event.position).toBeGreaterThan(0)
    await s.connect('m-a', 'm-c', 0.4)
    await s.strengthen(b.memoryId, 'm-a', 0.9, { rationale: 'same root cause' })
    const cascade = await s.cascade('m-a', 0.8, { rationale: 'what else does this touch?' })
    expect(cascade).toMatchObject({ type: 'memory.cascade', data: { source: 'm-a', cascadeStrength: 0.8 } })
    await s.turn('agent', 'I think the cache key changed', { turnIndex: 3 })
    const found = await s.search('cache key')
    expect(found.results[0]!.memoryId).toBe(b.memoryId)
    const graph = await s.memories()
    expect(graph.connections).toContainEqual({ from: 'm-a', to: 'm-c', strength: 0.4 })
    const md = await s.context({ format: 'md' })
    expect(md).toContain('cache misses spike')
    const json = await s.context()
    expect(json.participants.map((p) => p.id)).toContain('nav')
    const { events } = await s.readEvents({ types: ['memory.*', 'conversation.turn', 'agent.*'] })
    const byType = (type: string) => events.filter((e) => e.type === type)
    expect(byType('memory.formed')[0]!.meta.rationale).toBe('seen in the dashboards')
    expect(byType('memory.strength_changed')[0]).toMatchObject({ data: { previous: 0.8, strength: 0.9 }, meta: { rationale: 'same root cause' } })
    expect(byType('conversation.turn')[0]!.data).toEqual({ role: 'agent', content: 'I think the cache key changed', turnIndex: 3 })
    expect(byType('agent.rationale')).toContainEqual(expect.objectContaining({
      data: { action: 'cascade', memoryId: 'm-a' }, meta: expect.objectContaining({ causationId: cascade.id, rationale: 'what else does this touch?' }),
    }))
    expect(byType('memory.retrieved')[0]!.actor).toMatchObject({ id: 'nav', run: 'r-1' })
  })

  it('throws MnemoError with the server\'s code and message, and for invalid operations', async () => {
    const s = await join('errors')
    const unknown = await s.cascade('nope').catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(MnemoError)
    expect(unknown).toMatchObject({ status: 404, code: 'memory_not_found' })
    const invalid = await s.formMemory({ content: 'x', importance: 2 }).catch((e: unknown) => e)
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_event_data' })
    expect((invalid as Error).message).toContain('importance')
    await expect(s.vote('no-such-decision', 'yes')).rejects.toMatchObject({ status: 400, code: 'invalid_operation' })
    await expect(joinSession({ url: server.url, session: 'bad id!' })).rejects.toMatchObject({ code: 'invalid_session_id' })
    await s.close()
    await expect(s.select('m-1')).rejects.toMatchObject({ code: 'closed' })
    await expect(s.turn('agent', 'late')).rejects.toMatchObject({ code: 'closed' })
  })

  it('resumes the events iterator after its connection drops, without gaps or duplicates', async () => {
    const proxy = await startProxy(server.port)
    try {
      const s = await joinSession({ url: proxy.url, session: 'resume', id: 'reader', retry: { maxDelayMs: 100 } })
      const append = (i: number) => call(server.url, 'POST', '/api/sessions/resume/events', { type: 'note.added', data: { i } })
      const seen: EventEnvelope[] = []
      const consumed = (async () => {
        for await (const event of s.events({ types: ['note.*'] })) {
          seen.push(event)
          if (seen.length === 30) break
        }
      })()
      for (let i = 0; i < 10; i++) await append(i)
      await until(() => seen.length === 10)
      const before = proxy.accepted()
      // Cut while events are being written, and keep refusing for a while.
      const writing = (async () => { for (let i = 10; i < 20; i++) await append(i) })()
      proxy.cut(true)
      await writing
      await until(() => proxy.refused() >= 2, { what: 'the iterator to be refused while reconnecting' })
      proxy.cut(false)
      for (let i = 20; i < 30; i++) await append(i)
      await consumed
      expect(proxy.accepted()).toBeGreaterThan(before)
      expect(seen.map((e) => e.data.i)).toEqual([...Array(30).keys()])
      const positions = seen.map((e) => e.position)
      expect([...positions].sort((x, y) => x - y)).toEqual(positions)
      expect(new Set(positions).size).toBe(30)
      await s.close()
    } finally {
      await proxy.close()
    }
  })

  it('starts the events iterator at "now" when asked', async () => {
    const s = await join('now')
    await s.turn('agent', 'before')
    const iterator = s.events({ after: 'now', types: ['conversation.turn'] })
    const next = iterator.next()
    await s.turn('agent', 'after')
    const { value } = await next
    expect((value as EventEnvelope).data.content).toBe('after')
    await iterator.return(undefined)
  })
})
