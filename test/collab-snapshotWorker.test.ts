/**
 * Snapshots of large documents are encoded on a worker thread (hostile defect 10): what the
 * worker rebuilds from the last snapshot and the updates since is the document, a rebuild
 * that does not match is never stored, and a room loaded from a large snapshot goes on
 * encoding off the event loop.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { countApplied } from '../src/collab/limits.js'
import { createSnapshotEncoder, type SnapshotEncoder } from '../src/collab/snapshotEncoder.js'
import { noObserver, type CollabContext, type Room, type UpdateObserver } from '../src/collab/types.js'
import { maybeSnapshot } from '../src/collab/upkeep.js'
import { readState } from '../src/session/readState.js'
import { select } from '../src/session/write.js'
import type { EventStore } from '../src/store/types.js'
import { replayUpTo, sameDoc } from './fixtures/clients.js'
import { backends, freshStore } from './fixtures/db.js'
import { closeAfterEach, connectClient, converged, startSyncServer, type SyncServer, type TestClient } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

type Encoded = 'worker' | 'in_place'

/** Counts the snapshots the rooms report, by where they were encoded. */
function counting(): UpdateObserver & { counts: Record<Encoded, number> } {
  const counts = { worker: 0, in_place: 0 }
  return { ...noObserver, counts, snapshot: (encoded: Encoded) => { counts[encoded] += 1 } }
}

describe('a large document\'s snapshots, in a room at rest', () => {
  const encoders: SnapshotEncoder[] = []
  afterEach(async () => {
    for (const encoder of encoders.splice(0)) await encoder.close()
  })

  function restingRoom(snapshots: SnapshotEncoder) {
    const saved: { position: number; state: Uint8Array }[] = []
    const warnings: string[] = []
    const observer = counting()
    const room = {
      session: 's', doc: new Y.Doc(), inFlight: 0, appliedPosition: 0, caughtUpTo: 0, caughtUpVersion: 0,
      sinceSnapshot: 0, sinceSnapshotBytes: 0, snapshotPosition: 0, snapshotBytes: 0,
    } as unknown as Room
    const background: Promise<unknown>[] = []
    const ctx = {
      config: { snapshotEvery: 5, snapshotOffThreadBytes: 8 * 1024 },
      store: { saveSnapshot: async (s: { position: number; state: Uint8Array }) => { saved.push(s) } },
      track: (p: Promise<unknown>) => background.push(p),
      log: { warn: (_: object, msg: string) => warnings.push(msg) },
      observe: observer,
      snapshots,
    } as unknown as CollabContext
    // The document as of each position, to compare the snapshots with.
    const asOf = new Map<number, Y.Doc>()
    let n = 0
    const apply = (bytes: number): boolean => {
      const before = Y.encodeStateVector(room.doc)
      room.doc.getMap('selections').set(`k${n++}`, 'x'.repeat(bytes))
      if (n % 7 === 0) room.doc.getMap('selections').delete(`k${n - 3}`)
      countApplied(room, Y.encodeStateAsUpdate(room.doc, before))
      room.caughtUpTo = room.appliedPosition = n
      const copy = new Y.Doc()
      Y.applyUpdate(copy, Y.encodeStateAsUpdate(room.doc))
      asOf.set(n, copy)
      return maybeSnapshot(ctx, room)
    }
    const idle = async (): Promise<void> => { while (background.length > 0) await background.shift() }
    return { room, saved, warnings, counts: observer.counts, apply, asOf, idle }
  }

  it('encodes the first in place, then the rest on the worker, each the document as of its position', async () => {
    const encoder = createSnapshotEncoder()
    encoders.push(encoder)
    const { saved, counts, apply, asOf, idle } = restingRoom(encoder)
    apply(20_000)
    for (let i = 0; i < 4; i++) apply(10)
    expect(counts).toEqual({ worker: 0, in_place: 1 })
    for (let i = 0; i < 400 && counts.worker < 3; i++) {
      apply(1_000)
      // One on the worker at a time: the next waits for it.
      if (i % 50 === 0) await idle()
    }
    await idle()
    expect(counts.worker).toBeGreaterThanOrEqual(3)
    expect(counts.in_place).toBe(1)
    expect(saved).toHaveLength(1 + counts.worker)
    for (const { position, state } of saved) {
      const loaded = new Y.Doc()
      Y.applyUpdate(loaded, state)
      expect(sameDoc(loaded, asOf.get(position)!)).toBe(true)
    }
  })

  it('stores nothing a worker rebuilt wrong, and encodes the next one in place', async () => {
    const real = createSnapshotEncoder()
    encoders.push(real)
    let wrong = true
    const lying: SnapshotEncoder = {
      async encode(base, updates) {
        const encoded = await real.encode(base, wrong ? updates.slice(1) : updates)
        return encoded
      },
      close: async () => {},
    }
    const { saved, warnings, counts, apply, idle } = restingRoom(lying)
    apply(20_000)
    for (let i = 0; i < 4; i++) apply(10)
    while (counts.worker === 0) apply(2_000)
    await idle()
    expect(saved).toHaveLength(1)
    expect(warnings).toContain('encoding a snapshot off the event loop failed; the next one is encoded in place')
    wrong = false
    while (counts.in_place === 1) apply(2_000)
    await idle()
    expect(saved).toHaveLength(2)
    while (counts.worker === 1) apply(2_000)
    await idle()
    expect(saved).toHaveLength(3)
  })
})

describe.each(backends)('rooms on $name snapshot a large document off the event loop', (backend) => {
  let store: EventStore
  let closeStore: () => Promise<void>
  const servers: SyncServer[] = []
  const clients: TestClient[] = []
  beforeAll(async () => {
    ;({ store, close: closeStore } = await freshStore(backend))
  })
  afterAll(async () => closeStore())
  closeAfterEach(clients, servers)

  const serve = async (observer: UpdateObserver): Promise<SyncServer> => {
    const server = await startSyncServer(store, { graceMs: 0, snapshotEvery: 10, snapshotOffThreadBytes: 16 * 1024 }, undefined, observer)
    servers.push(server)
    return server
  }
  const join = async (server: SyncServer, session: string): Promise<TestClient> => {
    const c = connectClient(server, session, { id: 'hal', name: 'HAL', kind: 'agent' })
    clients.push(c)
    await c.synced()
    return c
  }
  /** Writes entries of ~`bytes` until `done`, each waited for, so that the room gets to rest between them. */
  const writeUntil = async (server: SyncServer, hal: TestClient, session: string, bytes: number, done: () => boolean): Promise<void> => {
    for (let i = 0; !done(); i++) {
      if (i > 2_000) throw new Error('no snapshot after 2,000 updates')
      select(hal.doc, `${session}-${Math.random().toString(36).slice(2)}`, 'x'.repeat(bytes))
      await converged(server, session, [hal.doc])
    }
  }

  it('stores what the worker encoded, and a reloaded room goes on with the worker', async () => {
    const first = counting()
    let server = await serve(first)
    let hal = await join(server, 'big')
    await writeUntil(server, hal, 'big', 4_000, () => first.counts.worker >= 2)
    await server.rooms.idle()
    expect(first.counts.in_place).toBeGreaterThanOrEqual(1)
    const snapshot = (await store.loadSnapshot('big'))!
    const fromSnapshot = new Y.Doc()
    Y.applyUpdate(fromSnapshot, snapshot.state)
    expect(sameDoc(fromSnapshot, await replayUpTo(store, 'big', snapshot.position))).toBe(true)
    const expected = readState(hal.doc)
    hal.destroy()
    await server.close()
    servers.splice(0)

    // Loaded from that large snapshot, the room keeps it to rebuild the next one from.
    const second = counting()
    server = await serve(second)
    hal = await join(server, 'big')
    expect(readState(hal.doc)).toEqual(expected)
    await writeUntil(server, hal, 'big', 4_000, () => second.counts.worker >= 1)
    expect(second.counts.in_place).toBe(0)
    await server.rooms.idle()
    const newest = (await store.loadSnapshot('big'))!
    expect(newest.position).toBeGreaterThan(snapshot.position)
    const reloaded = new Y.Doc()
    Y.applyUpdate(reloaded, newest.state)
    expect(sameDoc(reloaded, await replayUpTo(store, 'big', newest.position))).toBe(true)
  }, 60_000)
})
