/**
 * Real-time sync with the stock y-websocket provider: convergence on every collection,
 * offline edits, presence with the server-stamped user, attribution of every update, and
 * refusals (viewers, bad ids, malformed messages) that disturb nobody else.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { encodeSyncStep1, encodeUpdate } from '../src/protocol/messages.js'
import { readState } from '../src/session/readState.js'
import { annotate, annotationText, explore, select } from '../src/session/write.js'
import { propose, vote } from '../src/session/decisions.js'
import { loadDocument } from '../src/replay/loadDocument.js'
import { awaitingCreation } from '../src/collab/sessionsBeingCreated.js'
import type { AppendOptions, EventStore, NewEvent } from '../src/store/types.js'
import { backends, freshStore } from './fixtures/db.js'
import { closeOf, freshUpdate, rawClient } from './fixtures/clients.js'
import { connectClient, converged, startSyncServer, type TestClient, type SyncServer } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

describe.each(backends)('sync on $name', (backend) => {
  let store: EventStore
  let closeStore: () => Promise<void>
  let server: SyncServer
  const clients: TestClient[] = []

  const client = (session: string, params: Parameters<typeof connectClient>[2] = {}): TestClient => {
    const c = connectClient(server, session, params)
    clients.push(c)
    return c
  }

  // One database per file: every test works in sessions of its own.
  beforeAll(async () => {
    ;({ store, close: closeStore } = await freshStore(backend))
  })
  afterAll(async () => closeStore())
  beforeEach(async () => {
    server = await startSyncServer(store)
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy()
    await server.close()
  })

  it('records a participant as joined before anything it sends, though its sync does not wait for the record', async () => {
    const alice = client('s-order', { id: 'alice', name: 'Alice' })
    await alice.synced()
    // Bob's update goes out the moment his socket opens, before the server greeted him.
    const doc = new Y.Doc()
    select(doc, 'm-bob', 'bob')
    const raw = new WebSocket(`${server.url}/s-order?id=bob&name=Bob`)
    raw.on('open', () => raw.send(encodeUpdate(Y.encodeStateAsUpdate(doc))))
    await until(async () => (await store.read('s-order')).some((e) => e.type === 'doc.update' && e.actor.id === 'bob'), { what: "bob's update stored" })
    raw.close()
    const bobs = (await store.read('s-order')).filter((e) => e.actor.id === 'bob').map((e) => e.type)
    expect(bobs.slice(0, 2)).toEqual(['participant.joined', 'doc.update'])
  })

  /** The store with the appends `held` picks kept back until `open()`: then they go on. */
  function holding(held: (events: NewEvent[], options?: AppendOptions) => boolean) {
    let open!: () => void
    const gate = new Promise<void>((resolve) => (open = resolve))
    const seen: NewEvent[] = []
    const holdingStore: EventStore = Object.assign(Object.create(store) as EventStore, {
      append(session: string, events: NewEvent[], options?: AppendOptions) {
        seen.push(...events)
        return held(events, options)
          ? gate.then(() => store.append(session, events, options))
          : store.append(session, events, options)
      },
    })
    return { store: holdingStore, seen, open }
  }

  /** Runs `body` against the test's server restarted on a store that holds the appends `held` picks. */
  async function onHoldingServer(
    held: Parameters<typeof holding>[0], body: (store: ReturnType<typeof holding>) => Promise<void>,
  ): Promise<void> {
    const holdingStore = holding(held)
    try {
      await server.close()
      server = await startSyncServer(holdingStore.store)
      await body(holdingStore)
    } finally {
      holdingStore.open() // a failed test must not leave the server's close waiting for the append
    }
  }

  it('syncs a new connection while its participant.joined is being stored, and takes its edits only once it is', async () => {
    await onHoldingServer((events) => events.some((e) => e.type === 'participant.joined' && e.actor.id === 'bob'), async (held) => {
      const alice = client('s-early', { id: 'alice', name: 'Alice' })
      await alice.synced()
      select(alice.doc, 'm-alice', 'alice')
      const bobs = () => held.seen.filter((e) => e.actor.id === 'bob').map((e) => e.type)
      const bob = client('s-early', { id: 'bob', name: 'Bob' })
      await bob.synced() // before, not until bob's participant.joined was stored
      await until(() => bob.doc.getMap('selections').has('m-alice'), { what: "alice's edit to reach bob" })
      expect(bobs()).toEqual(['participant.joined'])
      // A raw connection of bob's: its update waits, and so does the pong to a ping sent after
      // it (a pong follows the handling of every frame before its ping), while its sync step 1
      // after both is answered at once.
      const raw = await rawClient(`${server.url}/s-early?id=bob&name=Bob`)
      await raw.greeted
      raw.ws.send(encodeUpdate(freshUpdate('m-bob')))
      let answered = false
      const handled = raw.handled().then((ok) => (answered = ok))
      const before = raw.received.length
      raw.ws.send(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())))
      await until(() => raw.received.length > before, { what: "the answer to the raw connection's step 1" })
      expect(answered).toBe(false)
      expect(bobs()).toEqual(['participant.joined'])
      held.open()
      await handled
      expect(answered).toBe(true)
      await until(() => alice.doc.getMap('selections').has('m-bob'), { what: "bob's held update to reach alice" })
      raw.ws.close()
      const logged = (await store.read('s-early')).filter((e) => e.actor.id === 'bob').map((e) => e.type)
      expect(logged.slice(0, 2)).toEqual(['participant.joined', 'doc.update'])
    })
  })

  it('stores the edits a client sends while its previous one is being stored as one doc.update, summarized whole', async () => {
    let first = true
    await onHoldingServer((events) => {
      const hold = first && events.some((e) => e.type === 'doc.update' && e.actor.id === 'alice')
      if (hold) first = false
      return hold
    }, async (held) => {
      const alice = client('s-burst', { id: 'alice', name: 'Alice' })
      const bob = client('s-burst', { id: 'bob', name: 'Bob' })
      await Promise.all([alice.synced(), bob.synced()])
      select(alice.doc, 'm-0', 'alice')
      const alicesUpdates = () => held.seen.filter((e) => e.type === 'doc.update' && e.actor.id === 'alice')
      await until(() => alicesUpdates().length === 1, { what: "alice's first update to reach the store" })
      // Sent one by one while the first is held: held by the server, merged, stored as one.
      for (const key of ['m-3', 'm-1', 'm-2']) select(alice.doc, key, 'alice')
      annotate(alice.doc, { target: 'm-1', author: 'alice', text: 'while held' })
      await until(() => server.rooms.loadedRooms().find((r) => r.session === 's-burst')?.pendingUpdates === 5, { what: 'the four later edits held behind the first' })
      expect(alicesUpdates()).toHaveLength(1)
      held.open()
      await until(() => ['m-0', 'm-1', 'm-2', 'm-3'].every((k) => bob.doc.getMap('selections').has(k)), { what: 'every edit to reach bob' })
      const stored = (await store.read('s-burst')).filter((e) => e.type === 'doc.update' && e.actor.id === 'alice')
      expect(stored).toHaveLength(2)
      const changes = (stored[1]!.data as { changes: { path: string; key: string }[] }).changes
      expect(changes.filter((c) => c.path === 'selections').map((c) => c.key)).toEqual(['m-1', 'm-2', 'm-3'])
      expect(changes.filter((c) => c.path === 'annotations')).toHaveLength(1)
      expect(readState((await loadDocument(store, 's-burst')).doc)).toEqual(readState(bob.doc))
    })
  })

  it('syncs the first client of a new session while its session.created is stored; reads through awaitingCreation wait for it, and its edits too', async () => {
    await onHoldingServer((_events, options) => options?.ifNew?.some((e) => e.type === 'session.created') ?? false, async (held) => {
      const ada = client('s-new-sync', { id: 'ada', name: 'Ada' })
      await ada.synced() // before, not once, the session is stored
      expect(held.seen.map((e) => e.type)).toEqual(['participant.joined']) // with session.created (ifNew), held
      expect(await store.head('s-new-sync')).toBeUndefined()
      // What the HTTP routes read through: the session is being created here, so they wait.
      const reads = awaitingCreation(store, server.rooms)
      let found: unknown
      const head = reads.head('s-new-sync').then((h) => (found = h))
      expect(await reads.head('s-elsewhere')).toBeUndefined() // nobody creates that one
      select(ada.doc, 'm-ada', 'ada')
      const bob = client('s-new-sync', { id: 'bob', name: 'Bob' })
      await bob.synced()
      expect(bob.doc.getMap('selections').has('m-ada')).toBe(false) // not before it is stored
      expect(found).toBeUndefined()
      held.open()
      await head
      expect(found).toMatchObject({ version: expect.any(Number) })
      await until(() => bob.doc.getMap('selections').has('m-ada'), { what: "ada's edit to reach bob once the session is stored" })
      const types = (await store.read('s-new-sync')).map((e) => e.type)
      expect(types.slice(0, 3)).toEqual(['session.created', 'participant.joined', 'participant.joined'])
      expect(types).toContain('doc.update')
    })
  })

  it('lets a viewer who comes while the session is being created wait for it', async () => {
    await onHoldingServer((_events, options) => options?.ifNew?.some((e) => e.type === 'session.created') ?? false, async (held) => {
      const writer = client('s-being-created', { id: 'ada', name: 'Ada' })
      await until(() => held.seen.some((e) => e.type === 'participant.joined'), { what: "ada's join to be on its way" })
      const viewer = await rawClient(`${server.url}/s-being-created?id=vic&role=viewer`)
      const reader = client('s-being-created', { id: 'val', role: 'viewer' })
      select(writer.doc, 'm-ada', 'ada')
      held.open()
      await until(() => reader.doc.getMap('selections').has('m-ada'), { what: "ada's edit to reach the viewer" })
      expect(await viewer.handled()).toBe(true) // not closed with 4403
      viewer.ws.close()
    })
  })

  it('converges two clients on every collection, and the log replays to the same state', async () => {
    const alice = client('s1', { id: 'alice', name: 'Alice' })
    const bob = client('s1', { id: 'bob', name: 'Bob', kind: 'agent' })
    await Promise.all([alice.synced(), bob.synced()])
    select(alice.doc, 'm1', 'alice')
    explore(bob.doc, { memoryId: 'm2', by: 'bob', note: 'look here' })
    const a1 = annotate(alice.doc, { target: 'm1', author: 'alice', text: 'hello' })
    await converged(server, 's1', [alice.doc, bob.doc])
    annotationText(bob.doc, a1)!.insert(5, ' world')
    propose(bob.doc, { id: 'd1', question: 'Keep m1?', options: ['yes', 'no'], quorum: 3, createdBy: 'bob' })
    await converged(server, 's1', [alice.doc, bob.doc])
    vote(alice.doc, 'd1', 'alice', 'yes')
    await converged(server, 's1', [alice.doc, bob.doc])
    const state = readState(alice.doc)
    expect(state.annotations[a1]!.text).toBe('hello world')
    expect(state.decisions.d1!.votes).toEqual({ alice: 'yes' })
    expect(readState(bob.doc)).toEqual(state)
    const { doc } = await loadDocument(store, 's1')
    expect(readState(doc)).toEqual(state)
  })

  it('records the session once, who joined and left, and every doc.update with its sender and changes', async () => {
    const alice = client('s2', { id: 'alice', name: 'Alice' })
    await alice.synced()
    const bob = client('s2', { id: 'bob', name: 'Bob', kind: 'agent' })
    await bob.synced()
    select(alice.doc, 'm1', 'alice')
    annotate(bob.doc, { id: 'a1', target: 'm1', author: 'bob', text: 'hi' })
    await converged(server, 's2', [alice.doc, bob.doc])
    expect(server.rooms.participants('s2').map((p) => p.id).sort()).toEqual(['alice', 'bob'])
    bob.destroy()
    await until(() => server.rooms.participants('s2').length === 1, { what: 'bob to leave' })
    await server.rooms.idle()
    const events = await store.read('s2')
    expect(events[0]!.type).toBe('session.created')
    expect(events.filter((e) => e.type === 'session.created')).toHaveLength(1)
    expect(events.filter((e) => e.type === 'participant.joined').map((e) => e.actor.id).sort()).toEqual(['alice', 'bob'])
    const left = events.filter((e) => e.type === 'participant.left')
    expect(left.map((e) => e.data)).toEqual([{ participant: { id: 'bob', name: 'Bob', kind: 'agent' } }])
    const updates = events.filter((e) => e.type === 'doc.update')
    expect(updates.length).toBeGreaterThanOrEqual(2)
    for (const update of updates) {
      expect(update.payload).toBeInstanceOf(Uint8Array)
      expect(update.data.bytes).toBe(update.payload!.length)
    }
    // alice and bob edit over separate sockets at the same moment: either may be stored first.
    expect(updates.map((e) => [e.actor.id, e.data.changes]).sort(([a], [b]) => String(a).localeCompare(String(b)))).toEqual([
      ['alice', [{ path: 'selections', op: 'add', key: 'm1' }]],
      ['bob', [{ path: 'annotations', op: 'add', key: 'a1' }]],
    ])
  })

  it('converges twenty clients editing every collection at once', async () => {
    const many = Array.from({ length: 20 }, (_, i) => client('s20', { id: `p${i}`, name: `P${i}` }))
    await Promise.all(many.map((c) => c.synced()))
    const shared = annotate(many[0]!.doc, { id: 'shared', target: 'm0', author: 'p0', text: '' })
    propose(many[0]!.doc, { id: 'd', question: 'q', options: ['a', 'b'], quorum: 100, createdBy: 'p0' })
    await converged(server, 's20', many.map((c) => c.doc))
    many.forEach((c, i) => {
      select(c.doc, `m${i}`, `p${i}`)
      explore(c.doc, { memoryId: `m${i}`, by: `p${i}` })
      annotate(c.doc, { id: `a${i}`, target: `m${i}`, author: `p${i}`, text: `note ${i}` })
      annotationText(c.doc, shared)!.insert(0, `${i};`)
      vote(c.doc, 'd', `p${i}`, i % 2 === 0 ? 'a' : 'b')
    })
    await converged(server, 's20', many.map((c) => c.doc))
    const state = readState(many[0]!.doc)
    expect(Object.keys(state.selections)).toHaveLength(20)
    expect(state.explorationPath).toHaveLength(20)
    expect(Object.keys(state.annotations)).toHaveLength(21)
    expect(Object.keys(state.decisions.d!.votes)).toHaveLength(20)
    for (const c of many) expect(readState(c.doc)).toEqual(state)
  })

  it('merges offline edits from both sides on reconnection', async () => {
    const alice = client('s3', { id: 'alice' })
    const bob = client('s3', { id: 'bob' })
    await Promise.all([alice.synced(), bob.synced()])
    const text = annotate(alice.doc, { id: 'a', target: 'm', author: 'alice', text: 'base' })
    await converged(server, 's3', [alice.doc, bob.doc])
    alice.provider.disconnect()
    bob.provider.disconnect()
    annotationText(alice.doc, text)!.insert(0, 'A:')
    select(alice.doc, 'm-alice', 'alice')
    annotationText(bob.doc, text)!.insert(4, ':B')
    explore(bob.doc, { memoryId: 'm-bob', by: 'bob' })
    alice.provider.connect()
    bob.provider.connect()
    await converged(server, 's3', [alice.doc, bob.doc])
    expect(readState(alice.doc).annotations.a!.text).toBe('A:base:B')
    expect(readState(bob.doc)).toEqual(readState(alice.doc))
  })

  it('shows each client to the others with the user the server stamped', async () => {
    const alice = client('s4', { id: 'alice', name: 'Alice' })
    const bob = client('s4', { id: 'bob', name: 'Bob', kind: 'agent' })
    await Promise.all([alice.synced(), bob.synced()])
    alice.provider.awareness.setLocalState({ cursor: 3, user: { id: 'bob', name: 'Not Alice' } })
    await until(() => bob.provider.awareness.getStates().get(alice.doc.clientID)?.cursor === 3, { what: 'bob to see alice' })
    expect(bob.provider.awareness.getStates().get(alice.doc.clientID)).toEqual({
      cursor: 3, user: { id: 'alice', name: 'Alice', kind: 'human' },
    })
    alice.destroy()
    await until(() => !bob.provider.awareness.getStates().has(alice.doc.clientID), { what: 'alice\'s state to go' })
  })

  it('refuses a viewer\'s update (4403) and never stores it; a viewer still reads', async () => {
    const alice = client('s5', { id: 'alice' })
    await alice.synced()
    select(alice.doc, 'm1', 'alice')
    await converged(server, 's5', [alice.doc])
    const viewer = client('s5', { id: 'val', role: 'viewer' })
    await viewer.synced()
    await until(() => 'm1' in readState(viewer.doc).selections, { what: 'the viewer to read' })
    let closed: { code: number; reason: string } | undefined
    viewer.provider.on('closed', (event: { code: number; reason: string }) => { closed = event })
    select(viewer.doc, 'm-viewer', 'val')
    await until(() => closed !== undefined, { what: 'the viewer to be closed' })
    expect(closed).toEqual({ code: 4403, reason: 'viewers cannot edit this session' })
    await server.rooms.idle()
    const updates = (await store.read('s5')).filter((e) => e.type === 'doc.update')
    expect(updates.every((e) => e.actor.id === 'alice')).toBe(true)
    expect(readState(alice.doc).selections['m-viewer']).toBeUndefined()
  })

  it('refuses a viewer opening a session that does not exist, bad ids and other paths', async () => {
    expect(await closeOf(`${server.url}/nope?role=viewer`)).toEqual({ code: 4403, reason: 'session does not exist' })
    expect((await closeOf(`${server.url}/bad%20id`)).code).toBe(4400)
    expect((await closeOf(`${server.url}/x?role=owner`)).code).toBe(4401)
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/elsewhere`)
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', reject)
    })
    expect(status).toBe(404)
    expect(await store.head('nope')).toBeUndefined()
  })

  it('closes a client that sends a malformed message (1007) and nobody else', async () => {
    const alice = client('s6', { id: 'alice' })
    await alice.synced()
    const codes: number[] = []
    const raw = new WebSocket(`${server.url}/s6?id=mallory`)
    raw.on('close', (code) => codes.push(code))
    await new Promise((resolve) => raw.on('open', resolve))
    raw.send(Uint8Array.of(0, 2, 5, 1, 2)) // an update whose payload is cut short
    await until(() => codes.length > 0, { what: 'mallory to be closed' })
    expect(codes).toEqual([1007])
    select(alice.doc, 'still-here', 'alice')
    const bob = client('s6', { id: 'bob' })
    await bob.synced()
    await until(() => 'still-here' in readState(bob.doc).selections, { what: 'bob to see alice\'s edit' })
    expect(alice.provider.wsconnected).toBe(true)
  })

  it('brings updates written into the store by another writer to connected clients', async () => {
    const alice = client('s7', { id: 'alice' })
    await alice.synced()
    select(alice.doc, 'm1', 'alice')
    await converged(server, 's7', [alice.doc])
    await server.rooms.idle()
    const { doc } = await loadDocument(store, 's7')
    const before = Y.encodeStateVector(doc)
    explore(doc, { memoryId: 'from-http', by: 'hal' })
    const update = Y.encodeStateAsUpdate(doc, before)
    await store.append('s7', [{
      type: 'doc.update', data: { bytes: update.length, changes: [] }, payload: update,
      actor: { id: 'hal', name: 'HAL', kind: 'agent' },
    }])
    await until(() => readState(alice.doc).explorationPath.some((s) => s.memoryId === 'from-http'), { what: 'the stored update to arrive' })
    await converged(server, 's7', [alice.doc, doc])
  })
})
