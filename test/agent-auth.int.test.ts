/**
 * The agent SDK with tokens: every event its connection and requests produce carries the
 * token's identity (id, name, kind, model, onBehalfOf) and the run; a rationale lands in
 * `meta` (HTTP events) or in a companion `agent.rationale` pointing at the Yjs edit; refusals
 * are MnemoErrors with the status they stand for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { joinSession, MnemoError, type AgentSession } from '../src/agent/index.js'
import { mintToken } from '../src/auth/tokens.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'an-agent-test-secret-of-at-least-32-bytes'


describe('the agent SDK with tokens', () => {
  let server: TestServer
  let admin: string
  const sessions: AgentSession[] = []
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET })
    admin = await mintToken(SECRET, { sub: 'root', name: 'Root', kind: 'human', role: 'admin' })
  })
  afterAll(async () => {
    for (const s of sessions) await s.close()
    await server.stop()
  })

  const agentToken = (role: 'editor' | 'viewer' = 'editor') =>
    mintToken(SECRET, { sub: 'agent-7', name: 'Navigator', kind: 'agent', role, model: 'claude-test', onBehalfOf: 'alice' })
  const eventsOf = async (session: string) =>
    (await call(server.url, 'GET', `/api/sessions/${session}/events?limit=1000`, undefined, { authorization: `Bearer ${admin}` })).body.events as any[]

  it('attributes every event to the agent, the human it acts for and its run', async () => {
    const s = await joinSession({ url: server.url, session: 'attr', token: await agentToken(), run: 'r-7' })
    sessions.push(s)
    expect(s.me).toMatchObject({ id: 'agent-7', name: 'Navigator', kind: 'agent', model: 'claude-test', onBehalfOf: 'alice', run: 'r-7' })
    await s.select('m-1', { rationale: 'the newest incident' })
    const decision = await s.propose({ question: 'roll back?', options: ['yes', 'no'], quorum: 1 })
    await s.vote(decision, 'yes', { rationale: 'the error rate doubled' })
    await s.formMemory({ memoryId: 'm-1', content: 'the error rate doubled at 10:02' }, { rationale: 'seen in the dashboards' })
    await s.turn('agent', 'rolling back is safe')
    await s.flush()
    let events: any[] = []
    await until(async () => {
      events = await eventsOf('attr')
      return events.some((e) => e.type === 'decision.reached')
    })
    const actor = { id: 'agent-7', name: 'Navigator', kind: 'agent', model: 'claude-test', onBehalfOf: 'alice', run: 'r-7' }
    const mine = events.filter((e) => e.actor.id === 'agent-7')
    expect(new Set(mine.map((e) => e.type))).toEqual(new Set(['participant.joined', 'doc.update', 'agent.rationale', 'memory.formed', 'conversation.turn']))
    for (const event of mine) expect(event.actor).toEqual(actor)
    expect(mine.find((e) => e.type === 'memory.formed').meta.rationale).toBe('seen in the dashboards')

    // The companion event names the edit: its entry, and the Yjs client and clock where its items start.
    const rationales = mine.filter((e) => e.type === 'agent.rationale')
    expect(rationales.map((e) => [e.data.action, e.data.path, e.data.key, e.meta.rationale])).toEqual([
      ['select', 'selections', 'm-1', 'the newest incident'],
      ['vote', 'decisions', decision, 'the error rate doubled'],
    ])
    const edits = rationales.map(({ data }) => mine.find((e) => e.type === 'doc.update' &&
      Y.decodeUpdate(Buffer.from(e.data.update, 'base64')).structs.some((st) => st.id.client === data.client && st.id.clock === data.clock)))
    expect(edits.every((edit) => edit !== undefined)).toBe(true)
    expect(edits[0].data.changes).toEqual([{ path: 'selections', op: 'add', key: 'm-1' }])
  })

  it('shows a human the agent as an agent, stamped by the server', async () => {
    const human = await mintToken(SECRET, { sub: 'alice', name: 'Alice', kind: 'human', role: 'editor' })
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, 'shown', doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { token: human },
    })
    try {
      const s = await joinSession({ url: server.url, session: 'shown', token: await agentToken() })
      sessions.push(s)
      s.presence({ status: 'thinking', focus: 'm-9' })
      const shown = () => [...provider.awareness.getStates().values()].find((st) => st.user?.id === 'agent-7')
      await until(() => shown()?.status === 'thinking')
      expect(shown()).toMatchObject({ user: { id: 'agent-7', name: 'Navigator', kind: 'agent' }, focus: 'm-9' })
    } finally {
      provider.destroy()
    }
  })

  it('lets a viewer read but not edit, and refuses a bad token when joining', async () => {
    const viewer = await joinSession({ url: server.url, session: 'attr', token: await agentToken('viewer') })
    sessions.push(viewer)
    expect(viewer.state().selections['m-1']).toBeDefined()
    expect(await viewer.context({ format: 'md' })).toContain('m-1')
    await expect(viewer.select('m-2')).rejects.toMatchObject({ status: 403, code: 'forbidden' })
    await expect(viewer.turn('agent', 'hi')).rejects.toMatchObject({ status: 403 })

    const forged = await mintToken('another-secret-that-is-at-least-32-bytes', { sub: 'x', name: 'X', kind: 'agent', role: 'admin' })
    const refused = await joinSession({ url: server.url, session: 'attr', token: forged }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(MnemoError)
    expect(refused).toMatchObject({ status: 401, code: 'unauthorized' })
    await expect(joinSession({ url: server.url, session: 'attr' })).rejects.toMatchObject({ status: 401 })
    const elsewhere = await mintToken(SECRET, { sub: 'agent-8', name: 'Scout', kind: 'agent', role: 'editor', sessions: ['other'] })
    await expect(joinSession({ url: server.url, session: 'attr', token: elsewhere })).rejects.toMatchObject({ status: 403 })
  })
})
