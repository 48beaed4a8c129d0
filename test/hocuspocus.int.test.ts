/**
 * The Hocuspocus dialect (`/hocuspocus`) through the real server, with the real
 * `@hocuspocus/provider` beside stock y-websocket clients: convergence both ways in one room,
 * attribution in the log, acknowledgements only after storage, several documents on one
 * socket, stateless messages, viewers, refused tokens, bad frames, and rich text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as provider3 from '@hocuspocus/provider'
import * as provider4 from 'hocuspocus-provider-4'
import { mintToken, type MintOptions } from '../src/auth/tokens.js'
import { encodeDocumentName, prefixFrame } from '../src/protocol/hocuspocus.js'
import { encodeSyncStep1 } from '../src/protocol/messages.js'
import type { StoredEvent } from '../src/store/types.js'
import { peer, rawClient, sessionLog, type Peer } from './fixtures/clients.js'
import { anyBackend } from './fixtures/db.js'
import { refusals } from './fixtures/metrics.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'hocuspocus-secret-0123456789abcdef-0123456789'

const token = (sub: string, role: MintOptions['role'], more: Partial<MintOptions> = {}) =>
  mintToken(SECRET, { sub, name: sub.toUpperCase(), kind: 'human', role, ...more })

/**
 * Both majors of the provider Tiptap users run (4.x adds its version to the auth message).
 * Typed as 3.x: the API these tests use is the same in both.
 */
const PROVIDERS: [string, typeof provider3][] = [
  ['3.x', provider3],
  ['4.x', provider4 as unknown as typeof provider3],
]

interface Client {
  doc: Y.Doc
  provider: provider3.HocuspocusProvider
  /** Reasons of the Close messages and refusals it got, in order. */
  closes: string[]
  refusals: string[]
  stateless: string[]
  /** Authenticated, its handshake done and every change it made acknowledged. */
  settled(): Promise<void>
}

describe.each(PROVIDERS)('the Hocuspocus endpoint, @hocuspocus/provider %s', (major, { HocuspocusProvider, HocuspocusProviderWebsocket }) => {
  let server: TestServer
  let url: string
  let admin: string, ada: string, bob: string, viewer: string
  const sockets: provider3.HocuspocusProviderWebsocket[] = []
  const clients: Client[] = []
  const peers: Peer[] = []

  beforeAll(async () => {
    server = await startTestServer(anyBackend, { MNEMO_AUTH_SECRET: SECRET })
    url = `${server.url.replace('http', 'ws')}/hocuspocus`
    ;[admin, ada, bob, viewer] = await Promise.all([token('root', 'admin'), token('ada', 'editor'), token('bob', 'editor'), token('vi', 'viewer')])
  })
  afterAll(async () => {
    for (const c of clients) c.provider.destroy()
    for (const s of sockets) s.destroy()
    for (const p of peers) p.destroy()
    await server.stop()
  })

  const socket = () => {
    const s = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket, delay: 50, minDelay: 50, maxDelay: 300 })
    sockets.push(s)
    return s
  }

  /** A HocuspocusProvider for `name` on `websocketProvider` (a socket of its own by default); `more`: options of 4.x only. */
  const hocus = (name: string, tokenOf: string, websocketProvider = socket(), more: Record<string, unknown> = {}): Client => {
    const doc = new Y.Doc()
    const client: Client = { doc, provider: undefined!, closes: [], refusals: [], stateless: [], settled: undefined! }
    client.provider = new HocuspocusProvider({
      websocketProvider,
      name,
      document: doc,
      token: tokenOf,
      onClose: ({ event }) => void client.closes.push(event.reason),
      onAuthenticationFailed: ({ reason }) => void client.refusals.push(reason),
      onStateless: ({ payload }) => void client.stateless.push(payload),
      ...more,
    })
    client.provider.attach()
    client.settled = () => until(() => client.provider.isAuthenticated && client.provider.synced && client.provider.unsyncedChanges === 0, {
      what: `${name} to settle`, explain: () => ({ auth: client.provider.isAuthenticated, synced: client.provider.synced, unsynced: client.provider.unsyncedChanges }),
    })
    clients.push(client)
    return client
  }

  const ysync = (session: string, tokenOf: string) => {
    const p = peer(`${server.url.replace('http', 'ws')}/sync`, session, { token: tokenOf })
    peers.push(p)
    return p
  }

  const events = async (session: string): Promise<any[]> =>
    (await call(server.url, 'GET', `/api/sessions/${session}/events?limit=1000`, undefined, { authorization: `Bearer ${admin}` })).body.events

  it('a Hocuspocus client and a y-websocket client converge both ways, in one timeline, each attributed', async () => {
    const a = hocus('together', ada)
    const b = ysync('together', bob)
    await Promise.all([a.settled(), b.synced()])
    expect(a.provider.authorizedScope).toBe('read-write')

    a.doc.getMap('selections').set('m-1', { by: 'ada', at: 1 })
    await until(() => b.doc.getMap('selections').has('m-1'), { what: 'the y-websocket client to see the Hocuspocus edit' })
    b.doc.getArray('explorationPath').push([{ memoryId: 'm-1', by: 'bob', at: 2 }])
    await until(() => a.doc.getArray('explorationPath').length === 1, { what: 'the Hocuspocus client to see the y-websocket edit' })
    await a.settled()

    const log = await events('together')
    const updates = log.filter((e) => e.type === 'doc.update')
    expect(updates.find((e) => e.actor.id === 'ada')?.data.changes).toEqual([{ path: 'selections', op: 'add', key: 'm-1' }])
    expect(updates.find((e) => e.actor.id === 'bob')?.data.changes).toEqual([{ path: 'explorationPath', op: 'add', key: 'm-1', step: expect.any(String) }])
    expect(log.filter((e) => e.type === 'participant.joined').map((e) => e.actor.id).sort()).toEqual(['ada', 'bob'])

    // Presence both ways, each stamped with the server's identity.
    a.provider.setAwarenessField('cursor', 3)
    b.provider.awareness.setLocalStateField('cursor', 7)
    await until(() => [...b.provider.awareness.getStates().values()].some((s) => s.cursor === 3 && s.user?.id === 'ada'), { what: 'ada\'s cursor at bob' })
    await until(() => [...a.provider.awareness!.getStates().values()].some((s) => s.cursor === 7 && s.user?.id === 'bob'), { what: 'bob\'s cursor at ada' })
  })

  it('unsynced changes reach 0 only once the update is stored, and nobody sees it before', async () => {
    const a = hocus('acks', ada)
    const b = ysync('acks', bob)
    await Promise.all([a.settled(), b.synced()])
    // Hold the store's appends until released, and note when they are answered.
    const append = server.store.append
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let stored = false
    server.store.append = async (...args) => {
      await gate
      const result = await append(...args)
      stored = true
      return result
    }
    let zeroBeforeStored = false
    a.provider.on('unsyncedChanges', ({ number }: { number: number }) => {
      if (number === 0 && !stored) zeroBeforeStored = true
    })
    try {
      a.doc.getMap('selections').set('m-held', { by: 'ada', at: 1 })
      expect(a.provider.unsyncedChanges).toBe(1)
      await until(() => server.rooms.stats().pendingAppends > 0, { what: 'the update to reach the store' })
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(a.provider.unsyncedChanges).toBe(1)
      expect(b.doc.getMap('selections').has('m-held')).toBe(false)
      release()
      await until(() => a.provider.unsyncedChanges === 0, { what: 'the acknowledgement' })
    } finally {
      server.store.append = append
      release()
    }
    expect(zeroBeforeStored).toBe(false)
    expect(a.provider.synced).toBe(true)
    const log = await sessionLog(server.store, 'acks')
    expect(log.some((e) => e.type === 'doc.update' && e.actor.id === 'ada')).toBe(true)
    await until(() => b.doc.getMap('selections').has('m-held'))
  })

  it('edits made offline are stored on reconnect before they are acknowledged', async () => {
    const ws = socket()
    const a = hocus('offline', ada, ws)
    await a.settled()
    ws.disconnect()
    await until(() => !a.provider.synced, { what: 'the provider to notice' })
    a.doc.getMap('selections').set('m-away', { by: 'ada', at: 1 })
    expect(a.provider.unsyncedChanges).toBeGreaterThan(0)
    await ws.connect()
    await a.settled()
    // The provider sends the edit twice on reconnect, queued and in its sync step 2; both can be
    // in flight at once, so it may be stored twice (Yjs applies it once; the copy that comes
    // second changes nothing, so its `changes` are empty).
    const updates = (await sessionLog(server.store, 'offline')).filter((e) => e.type === 'doc.update')
    expect(updates.map((e) => e.actor.id).every((id) => id === 'ada')).toBe(true)
    expect(updates.map((e) => e.data.changes).filter((c) => (c as unknown[]).length > 0)).toEqual([[{ path: 'selections', op: 'add', key: 'm-away' }]])
    const b = ysync('offline', bob)
    await until(() => b.doc.getMap('selections').has('m-away'))
  })

  it('serves two documents over one socket, each in its own session', async () => {
    const ws = socket()
    const one = hocus('multi-1', ada, ws)
    const two = hocus('multi-2', ada, ws)
    const peer1 = ysync('multi-1', bob)
    const peer2 = ysync('multi-2', bob)
    await Promise.all([one.settled(), two.settled(), peer1.synced(), peer2.synced()])
    one.doc.getMap('selections').set('only-1', { by: 'ada', at: 1 })
    two.doc.getMap('selections').set('only-2', { by: 'ada', at: 1 })
    peer2.doc.getMap('selections').set('from-peer-2', { by: 'bob', at: 2 })
    await until(() => peer1.doc.getMap('selections').has('only-1') && peer2.doc.getMap('selections').has('only-2'))
    await until(() => two.doc.getMap('selections').has('from-peer-2'))
    await Promise.all([one.settled(), two.settled()])
    expect([...one.doc.getMap('selections').keys()]).toEqual(['only-1'])
    expect([...peer1.doc.getMap('selections').keys()]).toEqual(['only-1'])
    expect([...two.doc.getMap('selections').keys()].sort()).toEqual(['from-peer-2', 'only-2'])
    const [log1, log2] = await Promise.all([events('multi-1'), events('multi-2')])
    expect(log1.filter((e) => e.type === 'doc.update').flatMap((e) => e.data.changes.map((c: any) => c.key))).toEqual(['only-1'])
    expect(log2.filter((e) => e.type === 'doc.update').flatMap((e) => e.data.changes.map((c: any) => c.key)).sort()).toEqual(['from-peer-2', 'only-2'])
    // One socket: the provider opened one WebSocket for both.
    expect(ws.webSocket).not.toBeNull()
    expect(server.rooms.stats().connections).toBeGreaterThanOrEqual(4)
  })

  it.runIf(major === '4.x')('serves two providers of one session on one socket (4.x sessionAwareness: frames named session\\0providerId)', async () => {
    const ws = socket()
    const a = hocus('shared', ada, ws, { sessionAwareness: true })
    const b = hocus('shared', bob, ws, { sessionAwareness: true })
    const c = ysync('shared', bob)
    await Promise.all([a.settled(), b.settled(), c.synced()])
    a.doc.getMap('selections').set('from-a', { by: 'ada', at: 1 })
    b.doc.getMap('selections').set('from-b', { by: 'bob', at: 2 })
    const all = (doc: Y.Doc) => [...doc.getMap('selections').keys()].sort().join()
    await until(() => [a, b].every((x) => all(x.doc) === 'from-a,from-b') && all(c.doc) === 'from-a,from-b', { what: 'the three to converge' })
    a.provider.sendStateless('hi b')
    await until(() => b.stateless.length === 1)
    expect(b.stateless).toEqual(['hi b'])
    const updates = (await events('shared')).filter((e) => e.type === 'doc.update')
    expect(updates.map((e) => [e.actor.id, e.data.changes[0]?.key])).toEqual(expect.arrayContaining([['ada', 'from-a'], ['bob', 'from-b']]))
    expect(server.rooms.participants('shared').map((p) => p.id).sort()).toEqual(['ada', 'bob'])
  })

  it('delivers stateless messages to the other Hocuspocus clients of the document, and stores none', async () => {
    const ws = socket()
    const a = hocus('chatter', ada, ws)
    const elsewhere = hocus('chatter-elsewhere', ada, ws)
    const b = hocus('chatter', bob)
    await Promise.all([a.settled(), b.settled(), elsewhere.settled()])
    const before = (await sessionLog(server.store, 'chatter')).length
    a.provider.sendStateless('{"ping":1}')
    await until(() => b.stateless.length === 1, { what: 'bob to get the stateless message' })
    expect(b.stateless).toEqual(['{"ping":1}'])
    b.provider.sendStateless('pong')
    await until(() => a.stateless.length === 1)
    expect(a.stateless).toEqual(['pong'])
    expect(elsewhere.stateless).toEqual([])
    await server.rooms.idle()
    const after = await sessionLog(server.store, 'chatter')
    expect(after).toHaveLength(before)
    expect(JSON.stringify(after.map((e) => e.data))).not.toContain('ping')
  })

  it('a viewer reads but cannot write: readonly scope, its update refused, its other documents untouched', async () => {
    const owner = ysync('watched', bob)
    await owner.synced()
    owner.doc.getMap('selections').set('m-1', { by: 'bob', at: 1 })
    await until(async () => (await sessionLog(server.store, 'watched')).some((e) => e.type === 'doc.update'))

    const ws = socket()
    const watcher = hocus('watched', viewer, ws)
    const writer = hocus('watcher-own', ada, ws)
    await Promise.all([watcher.settled(), writer.settled()])
    expect(watcher.provider.authorizedScope).toBe('readonly')
    expect(writer.provider.authorizedScope).toBe('read-write')
    expect(watcher.doc.getMap('selections').has('m-1')).toBe(true)

    watcher.doc.getMap('selections').set('m-viewer', { by: 'vi', at: 2 })
    await until(() => watcher.closes.length > 0, { what: 'the viewer\'s document to be closed' })
    expect(watcher.closes[0]).toBe('4403: viewers cannot edit this session')
    expect(watcher.provider.unsyncedChanges).toBeGreaterThan(0)
    // The same socket still serves the editor's document.
    writer.doc.getMap('selections').set('still-here', { by: 'ada', at: 3 })
    await writer.settled()
    expect((await sessionLog(server.store, 'watcher-own')).some((e) => e.type === 'doc.update' && e.actor.id === 'ada')).toBe(true)
    await server.rooms.idle()
    const log = await sessionLog(server.store, 'watched')
    expect(log.some((e) => e.type === 'doc.update' && e.actor.id === 'vi')).toBe(false)
    expect(owner.doc.getMap('selections').has('m-viewer')).toBe(false)
  })

  it('refuses a bad token or a session outside the token, with a reason, per document', async () => {
    const forged = await mintToken('another-secret-0123456789abcdef-0123456789', { sub: 'ada', name: 'ADA', kind: 'human', role: 'admin' })
    const onlyA = await token('ann', 'editor', { sessions: ['s-a'] })
    const ws = socket()
    const bad = hocus('refused', forged, ws)
    const outside = hocus('refused-b', onlyA, ws)
    const badName = hocus('not a session', ada, ws)
    const longName = hocus('s'.repeat(200), ada, ws)
    const good = hocus('s-a', onlyA, ws)
    await good.settled()
    await until(() => bad.refusals.length > 0 && outside.refusals.length > 0 && badName.refusals.length > 0 && longName.refusals.length > 0)
    expect(longName.refusals[0]).toBe('document name over 193 characters')
    expect(bad.refusals[0]).toMatch(/token/)
    expect(outside.refusals[0]).toBe('not allowed in session refused-b')
    expect(badName.refusals[0]).toMatch(/^bad session id/)
    expect(bad.provider.isAuthenticated).toBe(false)
    good.doc.getMap('selections').set('m-1', { by: 'ann', at: 1 })
    await good.settled()
    expect(await sessionLog(server.store, 'refused')).toEqual([])
  })

  it('closes a socket that sends bad frames with a clear code, and nobody else notices', async () => {
    const bystander = hocus('bystander', ada)
    await bystander.settled()

    const garbage = await rawClient(url)
    garbage.ws.send(Uint8Array.of(0x05, 0x61)) // a name of 5 bytes, 1 there
    expect((await garbage.closed).code).toBe(1007)

    const text = await rawClient(url)
    text.ws.send('hello')
    expect(await text.closed).toMatchObject({ code: 1007, reason: expect.stringContaining('binary') })

    const yWebsocket = await rawClient(url)
    yWebsocket.ws.send(encodeSyncStep1(new Uint8Array([0]))) // a y-websocket client on the wrong path
    expect(await yWebsocket.closed).toMatchObject({ code: 4400, reason: expect.stringContaining('/sync/') })

    const unknown = await rawClient(url)
    unknown.ws.send(prefixFrame(encodeDocumentName('bystander'), Uint8Array.of(9)))
    expect((await unknown.closed).code).toBe(1007)

    bystander.doc.getMap('selections').set('m-1', { by: 'ada', at: 1 })
    await bystander.settled()
    expect(bystander.closes).toEqual([])
  })

  it('sends a lone client its own awareness back (its provider drops a socket that hears nothing for 30 s)', async () => {
    const a = hocus('alone', ada)
    await a.settled()
    let echoes = 0
    a.provider.on('message', ({ message }: { message: { readVarString(): string; readVarUint(): number } }) => {
      message.readVarString()
      if (message.readVarUint() === 1) echoes += 1
    })
    a.provider.setAwarenessField('cursor', 1)
    await until(() => echoes > 0, { what: 'the awareness echo' })
    expect(a.provider.awareness!.getLocalState()).toMatchObject({ cursor: 1 })
  })

  it('a provider that detaches leaves its document; the socket goes on with the others', async () => {
    const ws = socket()
    const leaving = hocus('leave-1', ada, ws)
    const staying = hocus('leave-2', ada, ws)
    await Promise.all([leaving.settled(), staying.settled()])
    leaving.provider.detach()
    await until(async () => (await sessionLog(server.store, 'leave-1')).some((e) => e.type === 'participant.left'), { what: 'ada to leave leave-1' })
    staying.doc.getMap('selections').set('m-1', { by: 'ada', at: 1 })
    await staying.settled()
    expect((await sessionLog(server.store, 'leave-2')).some((e) => e.type === 'participant.left')).toBe(false)
    // Attached again, it authenticates again on the same socket.
    leaving.provider.attach()
    await leaving.settled()
    expect(server.rooms.participants('leave-1').map((p) => p.id)).toEqual(['ada'])
  })

  it('carries rich text (a Y.XmlFragment beside the four collections): doc.update names the field edited, state leaves it out, context shows its start', async () => {
    const a = hocus('rich', ada)
    const b = ysync('rich', bob)
    await Promise.all([a.settled(), b.synced()])
    // What Tiptap's Collaboration extension writes: a paragraph in the fragment 'default'.
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText('Hello')])
    a.doc.getXmlFragment('default').insert(0, [paragraph])
    await until(() => b.doc.getXmlFragment('default').toString() === '<paragraph>Hello</paragraph>')
    ;((b.doc.getXmlFragment('default').get(0) as Y.XmlElement).get(0) as Y.XmlText).insert(5, ', world')
    await until(() => a.doc.getXmlFragment('default').toString() === '<paragraph>Hello, world</paragraph>')
    await a.settled()
    a.doc.getMap('selections').set('m-1', { by: 'ada', at: 1 })
    await a.settled()

    const updates = (await events('rich')).filter((e: StoredEvent) => e.type === 'doc.update')
    expect(updates.map((e: any) => [e.actor.id, e.data.changes])).toEqual([
      ['ada', [{ path: 'richText', op: 'update', key: 'default' }]],
      ['bob', [{ path: 'richText', op: 'update', key: 'default' }]],
      ['ada', [{ path: 'selections', op: 'add', key: 'm-1' }]],
    ])
    const session = await call(server.url, 'GET', '/api/sessions/rich', undefined, { authorization: `Bearer ${admin}` })
    expect(session.status).toBe(200)
    expect(Object.keys(session.body.state.selections)).toEqual(['m-1'])
    const context = await call(server.url, 'GET', '/api/sessions/rich/context', undefined, { authorization: `Bearer ${admin}` })
    expect(context.status).toBe(200)
    expect(context.body.selections.map((s: any) => s.memoryId)).toEqual(['m-1'])
    expect(context.body.richText).toEqual([{ field: 'default', excerpt: 'Hello, world', characters: 12 }])
    const markdown = await call(server.url, 'GET', '/api/sessions/rich/context?format=md', undefined, { authorization: `Bearer ${admin}` })
    expect(markdown.body).toContain('m-1')
    expect(markdown.body).toContain('## Rich text\n- default (12 characters): Hello, world\n')
  })
})

describe('the Hocuspocus endpoint under a rate limit, and at shutdown', () => {
  it('acknowledges updates dropped over the rate once the sync step 2 that carries them is stored', async () => {
    const server = await startTestServer(anyBackend, { MNEMO_RATE_UPDATES_PER_SEC: '20', MNEMO_RATE_BURST: '10' })
    const websocketProvider = new provider3.HocuspocusProviderWebsocket({ url: `${server.url.replace('http', 'ws')}/hocuspocus`, WebSocketPolyfill: WebSocket })
    const doc = new Y.Doc()
    const provider = new provider3.HocuspocusProvider({ websocketProvider, name: 'flood', document: doc, token: '' })
    provider.attach()
    try {
      await until(() => provider.synced && provider.unsyncedChanges === 0)
      let early = false
      provider.on('unsyncedChanges', ({ number }: { number: number }) => {
        // The room's document holds only what is stored: at 0, every edit must be in it.
        if (number === 0 && server.rooms.docOf('flood')!.getMap('selections').size < 20) early = true
      })
      for (let i = 0; i < 20; i++) doc.getMap('selections').set(`m-${i}`, { by: 'x', at: i })
      await until(() => provider.unsyncedChanges === 0, { what: 'every edit acknowledged', explain: () => provider.unsyncedChanges })
      expect(early).toBe(false)
      expect(server.rooms.docOf('flood')!.getMap('selections').size).toBe(20)
      // The drops are counted at the Hocuspocus door, not at y-websocket's.
      const counted = await refusals(server.url)
      expect(counted['hocuspocus/rate'], JSON.stringify(counted)).toBeGreaterThan(0)
      expect(Object.keys(counted).filter((key) => key.startsWith('sync/'))).toEqual([])
    } finally {
      provider.destroy()
      websocketProvider.destroy()
      await server.stop()
    }
  })

  it('closes the sockets it holds with 1012 when the server stops', async () => {
    const server = await startTestServer(anyBackend)
    const idle = await rawClient(`${server.url.replace('http', 'ws')}/hocuspocus`)
    const token = encoding.createEncoder()
    encoding.writeVarString(token, 'not a session')
    encoding.writeVarUint(token, 2)
    encoding.writeVarUint(token, 0)
    encoding.writeVarString(token, '')
    idle.ws.send(encoding.toUint8Array(token)) // refused: the socket holds no room connection
    await until(() => idle.received.length > 0)
    await server.stop()
    expect((await idle.closed).code).toBe(1012)
  })
})
