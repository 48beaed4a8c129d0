/** The sync endpoint through the real server (startServer): stock providers, HTTP state, participants. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { propose, vote } from '../src/session/decisions.js'
import { annotate, explore, select } from '../src/session/write.js'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'


describe.each(backends)('sync through the server on $name', (backend) => {
  let server: TestServer
  const providers: WebsocketProvider[] = []
  beforeAll(async () => {
    server = await startTestServer(backend)
  })
  afterAll(async () => {
    for (const p of providers) p.destroy()
    await server.stop()
  })

  const join = (session: string, name: string) => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, session, doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { id: name.toLowerCase(), name },
    })
    providers.push(provider)
    return { doc, provider, synced: new Promise<void>((r) => provider.once('sync', () => r())) }
  }

  it('two stock clients converge, the log attributes each update, and GET /api/sessions/:id shows it all', async () => {
    const ada = join('e2e', 'Ada')
    const bob = join('e2e', 'Bob')
    await Promise.all([ada.synced, bob.synced])
    select(ada.doc, 'm-1', 'ada')
    explore(bob.doc, { memoryId: 'm-1', by: 'bob', note: 'start here' })
    const note = annotate(bob.doc, { target: 'm-1', author: 'bob', text: 'cold cache' })
    const decision = propose(ada.doc, { question: 'ship?', options: ['yes', 'no'], quorum: 2, createdBy: 'ada' })
    await until(() => bob.doc.getMap('decisions').has(decision))
    vote(ada.doc, decision, 'ada', 'yes')
    vote(bob.doc, decision, 'bob', 'yes')
    await until(async () => {
      const s = (await call(server.url, 'GET', '/api/sessions/e2e')).body
      return s?.state?.decisions?.[decision]?.status === 'accepted'
    })
    const session = (await call(server.url, 'GET', '/api/sessions/e2e')).body
    expect(session.state.selections['m-1'].by).toBe('ada')
    expect(session.state.annotations[note].text).toBe('cold cache')
    expect(session.state.explorationPath[0]).toMatchObject({ memoryId: 'm-1', note: 'start here' })
    expect(session.participants.map((p: any) => [p.id, p.online]).sort()).toEqual([['ada', true], ['bob', true]])
    const { events } = (await call(server.url, 'GET', '/api/sessions/e2e/events?limit=1000')).body
    const updates = events.filter((e: any) => e.type === 'doc.update')
    expect(updates.some((e: any) => e.actor.id === 'ada' && e.data.changes.some((c: any) => c.path === 'selections'))).toBe(true)
    expect(updates.some((e: any) => e.actor.id === 'bob' && e.data.changes.some((c: any) => c.path === 'annotations'))).toBe(true)
    expect(events.filter((e: any) => e.type === 'decision.reached')).toHaveLength(1)
    await until(() => (bob.doc.getMap('decisions').get(decision) as Y.Map<unknown>).get('status') === 'accepted')
    const list = (await call(server.url, 'GET', '/api/sessions')).body.sessions
    expect(list.find((s: any) => s.id === 'e2e')).toMatchObject({ participants: 2, online: 2 })
  })

  it('an event appended over HTTP reaches live clients of the document only through doc.update', async () => {
    const a = join('e2e-2', 'Cy')
    await a.synced
    const other = new Y.Doc()
    select(other, 'm-9', 'http')
    // An HTTP client cannot append doc.update (reserved): the document changes only over sync.
    const refused = await call(server.url, 'POST', '/api/sessions/e2e-2/events', {
      type: 'doc.update', data: { update: Buffer.from(Y.encodeStateAsUpdate(other)).toString('base64') },
    })
    expect(refused.status).toBe(400)
  })
})
