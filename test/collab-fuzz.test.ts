/**
 * Randomized convergence: client documents and the real room manager (as the server peer,
 * one fake socket per connection) on a seeded fake network that delays, reorders,
 * duplicates and drops frames and breaks links. After the network is repaired and quiet,
 * every client, the room and a replay of the log must hold the same document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { openIdentity } from '../src/auth/identity.js'
import { createRoomManager, type RoomManager } from '../src/collab/createRoomManager.js'
import { loadDocument } from '../src/replay/loadDocument.js'
import { propose, vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { getAnnotations, getDecisions } from '../src/session/roots.js'
import { annotate, annotationText, deselect, explore, select } from '../src/session/write.js'
import type { EventStore } from '../src/store/types.js'
import { assertConverged, createDocPeer, createFakeNetwork, type Peer } from './fixtures/fakeNetwork.js'
import { freshStore, anyBackend } from './fixtures/db.js'
import { FakeSocket } from './fixtures/syncServer.js'

/** The room manager as a network peer: each link to it is one attached socket. */
function serverPeer(rooms: RoomManager, session: string): Peer {
  const sockets = new Map<string, FakeSocket>()
  return {
    name: 'server',
    open(remote, send) {
      const socket = new FakeSocket(send)
      sockets.set(remote, socket)
      rooms.attach(socket, session, { ...openIdentity({ id: remote, name: remote }), role: 'editor' })
    },
    receive(remote, frame) {
      sockets.get(remote)?.deliver(frame)
    },
    close(remote) {
      sockets.get(remote)?.gone()
      sockets.delete(remote)
    },
    async idle() {
      // Appends resolve on I/O; what they trigger (apply, broadcast, greet) runs in microtasks.
      await rooms.idle()
      await new Promise((resolve) => setImmediate(resolve))
      await rooms.idle()
    },
  }
}

/** One random edit of any collection by `who`. */
function randomEdit(gen: prng.PRNG, doc: Y.Doc, who: string): void {
  const memory = `m${prng.int32(gen, 0, 9)}`
  const annotations = [...getAnnotations(doc).keys()]
  const open = [...getDecisions(doc).keys()].filter((id) => readState(doc).decisions[id]?.status === 'open')
  switch (prng.int32(gen, 0, 6)) {
    case 0: return select(doc, memory, who, 1)
    case 1: return deselect(doc, memory)
    case 2: return explore(doc, { memoryId: memory, by: who, at: 1 })
    case 3: annotate(doc, { target: memory, author: who, text: prng.word(gen, 1, 5), createdAt: 1 }); return
    case 4: {
      const text = annotations.length > 0 ? annotationText(doc, prng.oneOf(gen, annotations)) : undefined
      if (text) text.insert(prng.int32(gen, 0, text.length), prng.word(gen, 1, 3))
      return
    }
    case 5: propose(doc, { question: 'q', options: ['a', 'b'], quorum: 2, createdBy: who }); return
    default:
      if (open.length > 0) vote(doc, prng.oneOf(gen, open), who, prng.oneOf(gen, ['a', 'b']))
  }
}

describe('randomized convergence with the room as a peer', () => {
  let store: EventStore
  let closeStore: () => Promise<void>
  beforeAll(async () => {
    ;({ store, close: closeStore } = await freshStore(anyBackend))
  })
  afterAll(async () => closeStore())

  it.each([1, 2, 3, 4, 5, 6])('seed %i converges, and the log replays to the same document', async (seed) => {
    const session = `fuzz-${seed}`
    const rooms = createRoomManager({ store, config: { snapshotEvery: 40 } })
    const net = createFakeNetwork(seed)
    const server = serverPeer(rooms, session)
    net.add(server)
    const clients = ['c1', 'c2', 'c3', 'c4'].map((name) => createDocPeer(name, new Y.Doc()))
    for (const c of clients) net.add(c)
    // The first one creates the session before anyone else writes.
    await net.connect('c1', 'server')
    await net.flushAll()
    for (const c of clients.slice(1)) await net.connect(c.name, 'server')
    try {
      for (let step = 0; step < 400; step++) {
        const roll = prng.real53(net.gen)
        if (roll < 0.25) {
          const c = prng.oneOf(net.gen, clients)
          randomEdit(net.gen, c.doc, c.name)
        } else if (roll < 0.3) {
          await server.idle!() // let appends land mid-run, at seeded moments
        } else {
          await net.step()
        }
      }
      await net.flushAll()
      const room = rooms.docOf(session)!
      assertConverged([room, ...clients.map((c) => c.doc)], readState)
      const replayed = (await loadDocument(store, session)).doc
      assertConverged([room, replayed], readState)
      const authors = new Set((await store.read(session, { types: ['doc.update'], limit: 10_000 })).map((e) => e.actor.id))
      for (const author of authors) expect(['c1', 'c2', 'c3', 'c4', 'mnemo']).toContain(author)
      expect(net.stats.dropped + net.stats.disconnects).toBeGreaterThan(0)
    } finally {
      await rooms.close()
    }
  })
})
