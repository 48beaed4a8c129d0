/**
 * A room's life against the store: a late joiner of a long session, unloading and reloading
 * from snapshot + tail, loads and appends that fail, back-pressure, graceful shutdown, and
 * two instances on one database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { openIdentity } from '../src/auth/identity.js'
import { createRoomManager } from '../src/collab/createRoomManager.js'
import { encodeUpdate } from '../src/protocol/messages.js'
import { loadDocument } from '../src/replay/loadDocument.js'
import { readState } from '../src/session/readState.js'
import { explore, select } from '../src/session/write.js'
import type { EventStore } from '../src/store/types.js'
import { backends, freshStore, anyBackend } from './fixtures/db.js'
import { replayUpTo, sameDoc } from './fixtures/clients.js'
import { closeAfterEach, connectClient, converged, FakeSocket, startSyncServer, type SyncServer, type TestClient } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

const writer = { id: 'hal', name: 'HAL', kind: 'agent' as const }

/** A store whose reads or appends can be made to fail, as when the database is away. */
function flaky(store: EventStore): { store: EventStore; down: { read: boolean; append: boolean } } {
  const down = { read: false, append: false }
  const fail = () => Promise.reject(new Error('database unavailable'))
  return {
    down,
    store: {
      ...store,
      read: (session, options) => (down.read ? fail() : store.read(session, options)),
      append: (session, events, options) => (down.append ? fail() : store.append(session, events, options)),
    },
  }
}

describe.each(backends)('rooms on $name', (backend) => {
  let store: EventStore
  let closeStore: () => Promise<void>
  const servers: SyncServer[] = []
  const clients: TestClient[] = []

  const serve = async (config: Parameters<typeof startSyncServer>[1] = {}, on = store): Promise<SyncServer> => {
    const server = await startSyncServer(on, config)
    servers.push(server)
    return server
  }
  const client = (server: SyncServer, session: string, params: Parameters<typeof connectClient>[2] = {}): TestClient => {
    const c = connectClient(server, session, params)
    clients.push(c)
    return c
  }

  // One database per file: every test works in sessions of its own.
  beforeAll(async () => {
    ;({ store, close: closeStore } = await freshStore(backend))
  })
  afterAll(async () => closeStore())
  closeAfterEach(clients, servers)

  it('stores a burst of 10,000 updates, merging those sent while one is stored, and syncs a late joiner', async () => {
    const server = await serve()
    const hal = client(server, 'long', writer)
    await hal.synced()
    for (let i = 0; i < 10_000; i++) select(hal.doc, `m${i}`, 'hal', i)
    // The room applies an update only once it is stored.
    await until(() => Object.keys(readState(server.rooms.docOf('long')!).selections).length === 10_000, {
      what: '10,000 updates to be stored and applied', timeout: 120_000,
    })
    const late = client(server, 'long', { id: 'late' })
    await late.synced()
    expect(Object.keys(readState(late.doc).selections)).toHaveLength(10_000)
    await converged(server, 'long', [hal.doc, late.doc])
    const updates = await store.read('long', { types: ['doc.update'], limit: 10_000 })
    expect(updates.every((e) => e.actor.id === 'hal')).toBe(true)
    // Sent in one burst, most of them waited while an earlier one was stored, and went out together.
    expect(updates.length).toBeLessThan(10_000)
    expect(Object.keys(readState(await replayUpTo(store, 'long', Number.MAX_SAFE_INTEGER)).selections)).toHaveLength(10_000)
  }, 180_000)

  it('unloads after the grace period and reloads from snapshot + tail to the same state', async () => {
    const server = await serve({ graceMs: 0, snapshotEvery: 50 })
    const hal = client(server, 'u', writer)
    await hal.synced()
    for (let i = 0; i < 120; i++) explore(hal.doc, { memoryId: `m${i}`, by: 'hal', at: i })
    await converged(server, 'u', [hal.doc])
    const expected = readState(hal.doc)
    hal.destroy()
    await until(() => server.rooms.loadedRooms().length === 0, { what: 'the room to unload' })
    // The unload's snapshot is written in the background: wait for it, not for a moment.
    await server.rooms.idle()
    const last = (await store.read('u', { types: ['doc.update'], limit: 10_000 })).at(-1)!
    const snapshot = await store.loadSnapshot('u')
    expect(snapshot?.position).toBe(last.position)
    // Every snapshot holds exactly the doc.update events up to its position.
    for (const at of [snapshot!.position, snapshot!.position - 1]) {
      const earlier = await store.loadSnapshot('u', at)
      if (!earlier) continue
      const fromSnapshot = new Y.Doc()
      Y.applyUpdate(fromSnapshot, earlier.state)
      expect(sameDoc(fromSnapshot, await replayUpTo(store, 'u', earlier.position))).toBe(true)
    }
    // A tail written while nobody is connected (HTTP, another instance).
    const { doc } = await loadDocument(store, 'u')
    const before = Y.encodeStateVector(doc)
    explore(doc, { memoryId: 'tail', by: 'hal', at: 999 })
    const update = Y.encodeStateAsUpdate(doc, before)
    await store.append('u', [{ type: 'doc.update', data: { bytes: update.length, changes: [] }, payload: update, actor: writer }])
    const again = client(server, 'u', { id: 'again' })
    await again.synced()
    expect(readState(again.doc)).toEqual({ ...expected, explorationPath: [...expected.explorationPath, { memoryId: 'tail', by: 'hal', at: 999 }] })
    expect(sameDoc(again.doc, await replayUpTo(store, 'u', Number.MAX_SAFE_INTEGER))).toBe(true)
  })

  it('refuses connections (1011) while a session cannot be loaded, and loads it on a later try', async () => {
    const seed = await serve()
    const hal = client(seed, 'f', writer)
    await hal.synced()
    select(hal.doc, 'kept', 'hal')
    await converged(seed, 'f', [hal.doc])
    await seed.rooms.idle()
    const broken = flaky(store)
    const server = await serve({}, broken.store)
    broken.down.read = true
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      new WebSocket(`${server.url}/f?id=bob`).on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
    expect(closed).toEqual({ code: 1011, reason: 'session f could not be loaded; try again later' })
    await until(() => server.rooms.loadedRooms().length === 0, { what: 'the room that failed to load to be gone' })
    broken.down.read = false
    const bob = client(server, 'f', { id: 'bob' })
    await bob.synced()
    expect(readState(bob.doc).selections.kept).toBeDefined()
  })

  it('neither applies nor broadcasts an update it could not store; the client re-sends it on reconnect', async () => {
    const broken = flaky(store)
    const server = await serve({}, broken.store)
    const alice = client(server, 'down', { id: 'alice' })
    const bob = client(server, 'down', { id: 'bob' })
    await Promise.all([alice.synced(), bob.synced()])
    const codes: number[] = []
    alice.provider.on('connection-close', (event: { code: number } | null) => { if (event) codes.push(event.code) })
    broken.down.append = true
    select(alice.doc, 'lost-for-now', 'alice')
    await until(() => codes.includes(1011), { what: 'alice to be told storage is away' })
    await server.rooms.idle()
    expect(server.rooms.docOf('down')!.getMap('selections').has('lost-for-now')).toBe(false)
    expect(bob.doc.getMap('selections').has('lost-for-now')).toBe(false)
    broken.down.append = false
    await until(() => bob.doc.getMap('selections').has('lost-for-now'), { what: 'the re-sent update to reach bob' })
    await converged(server, 'down', [alice.doc, bob.doc])
  })

  // A room loads with one read of the head and snapshot, and a read of the log after the
  // snapshot only when the session has events past it: a commit may come during either.
  it.each([
    ['the read of the log', 'race', 'read'],
    ["a new session's read of its head", 'race-new', 'headAndSnapshot'],
  ] as const)('loses no update committed during %s while a room loads', async (_what, session, during) => {
    if (session === 'race') await store.append(session, [{ type: 'test.note', data: {}, actor: writer }])
    const delivered = new Set<string>()
    let raced: string | undefined
    const race = async () => {
      if (raced) return
      const doc = new Y.Doc()
      select(doc, 'committed-during-load', 'hal')
      const update = Y.encodeStateAsUpdate(doc)
      const result = await store.append(session, [{ type: 'doc.update', data: { bytes: update.length, changes: [] }, payload: update, actor: writer }])
      raced = result.ok ? result.events[0]!.id : undefined
      await until(() => delivered.has(raced!), { what: 'the feed to deliver the racing update' })
    }
    const racing: EventStore = {
      ...store,
      subscribe: (options, handler) => store.subscribe(options, async (event) => {
        await handler(event)
        delivered.add(event.id)
      }),
      // Between the room's reads and its start on the feed, another writer commits.
      read: async (at, options) => {
        const events = await store.read(at, options)
        if (during === 'read' && at === session && options?.types?.includes('doc.update')) await race()
        return events
      },
      headAndSnapshot: async (at) => {
        const start = await store.headAndSnapshot(at)
        if (during === 'headAndSnapshot' && at === session) await race()
        return start
      },
    }
    const server = await serve({}, racing)
    const alice = client(server, session, { id: 'alice' })
    await alice.synced()
    expect(raced).toBeDefined()
    await until(() => alice.doc.getMap('selections').has('committed-during-load'), { what: 'the racing update to reach alice' })
  })

  it('closes a connection that does not keep up (1013) instead of buffering for it', async () => {
    const rooms = createRoomManager({ store, config: { maxBufferedBytes: 1024 } })
    const fast = new FakeSocket()
    const slow = new FakeSocket()
    rooms.attach(fast, 'bp', { ...openIdentity({ id: 'fast' }), role: 'editor' })
    rooms.attach(slow, 'bp', { ...openIdentity({ id: 'slow' }), role: 'editor' })
    await until(() => fast.sent.length > 0 && slow.sent.length > 0, { what: 'both to join' })
    slow.bufferedAmount = 4096
    const doc = new Y.Doc()
    select(doc, 'm', 'fast')
    fast.deliver(encodeUpdate(Y.encodeStateAsUpdate(doc)))
    await rooms.idle()
    expect(slow.closedWith).toEqual({ code: 1013, reason: 'too slow, reconnect' })
    expect(fast.closedWith).toBeUndefined()
    await rooms.close()
    expect(fast.closedWith?.code).toBe(1012)
  })

  it('shuts down gracefully: pending updates stored, snapshot written, sockets closed with 1012', async () => {
    const server = await serve()
    const alice = client(server, 'bye', { id: 'alice' })
    await alice.synced()
    const codes: number[] = []
    alice.provider.on('connection-close', (event: { code: number } | null) => { if (event) codes.push(event.code) })
    for (let i = 0; i < 20; i++) select(alice.doc, `m${i}`, 'alice')
    await converged(server, 'bye', [alice.doc])
    await server.rooms.close()
    await until(() => codes.includes(1012), { what: 'alice to be told to reconnect' })
    const events = await store.read('bye')
    const lastUpdate = events.filter((e) => e.type === 'doc.update').at(-1)!
    expect((await store.loadSnapshot('bye'))?.position).toBe(lastUpdate.position)
    expect(events.at(-1)!.type).toBe('participant.left')
    expect(readState((await loadDocument(store, 'bye')).doc)).toEqual(readState(alice.doc))
  })

  it('serves one session from two instances on one database', async () => {
    const a = await serve()
    const b = await serve()
    const alice = client(a, 'two', { id: 'alice' })
    const bob = client(b, 'two', { id: 'bob' })
    await Promise.all([alice.synced(), bob.synced()])
    select(alice.doc, 'from-a', 'alice')
    explore(bob.doc, { memoryId: 'from-b', by: 'bob' })
    await until(() => sameDoc(alice.doc, bob.doc) && 'from-a' in readState(bob.doc).selections
      && readState(alice.doc).explorationPath.length === 1, { what: 'both instances to converge' })
    await converged(a, 'two', [alice.doc, bob.doc])
    await converged(b, 'two', [alice.doc, bob.doc])
  })
})

describe('loadDocument', () => {
  it('sets aside a stored update yjs refuses and loads the rest', async () => {
    const { store, close } = await freshStore(anyBackend)
    try {
      const doc = new Y.Doc()
      const updates: Uint8Array[] = []
      doc.on('update', (u: Uint8Array) => updates.push(u))
      select(doc, 'a', 'x')
      select(doc, 'b', 'x')
      const event = (payload: Uint8Array) => ({ type: 'doc.update', data: { bytes: payload.length, changes: [] }, payload, actor: writer })
      await store.append('s', [event(updates[0]!), event(Uint8Array.of(255, 255, 255)), event(updates[1]!)])
      const loaded = await loadDocument(store, 's')
      expect(loaded.skipped).toEqual([expect.objectContaining({ version: 2, position: 2 })])
      expect(Object.keys(readState(loaded.doc).selections)).toEqual(['a', 'b'])
      expect(loaded).toMatchObject({ position: 3, version: 3, replayed: 2 })
      expect((await loadDocument(store, 's', { at: 1 })).position).toBe(1)
    } finally {
      await close()
    }
  })

  it('from a head and snapshot read already, reads the log only when the head is past the snapshot', async () => {
    const { store, close } = await freshStore(anyBackend)
    try {
      let reads = 0
      const counting: typeof store = Object.assign(Object.create(store) as typeof store, {
        read: (...args: Parameters<typeof store.read>) => ((reads += 1), store.read(...args)),
      })
      const doc = new Y.Doc()
      const updates: Uint8Array[] = []
      doc.on('update', (u: Uint8Array) => updates.push(u))
      const event = (payload: Uint8Array) => ({ type: 'doc.update', data: { bytes: payload.length, changes: [] }, payload, actor: writer })
      const fresh = await loadDocument(counting, 'new', { start: await store.headAndSnapshot('new') })
      expect([fresh.position, reads]).toEqual([0, 0]) // no session: nothing read
      select(doc, 'a', 'x')
      await store.append('s', [event(updates[0]!)])
      await store.saveSnapshot({ session: 's', version: 1, position: 1, state: Y.encodeStateAsUpdate(doc) })
      const covered = await loadDocument(counting, 's', { start: await store.headAndSnapshot('s') })
      expect([covered.position, covered.version, covered.snapshotPosition, reads]).toEqual([1, 1, 1, 0])
      select(doc, 'b', 'x')
      await store.append('s', [event(updates[1]!)])
      const past = await loadDocument(counting, 's', { start: await store.headAndSnapshot('s') })
      expect(reads).toBe(1)
      const plain = await loadDocument(store, 's')
      expect({ ...past, doc: readState(past.doc) }).toEqual({ ...plain, doc: readState(plain.doc) })
      expect(Object.keys(readState(past.doc).selections)).toEqual(['a', 'b'])
    } finally {
      await close()
    }
  })
})
