/**
 * Presence hygiene, driven frame by frame through fake sockets: a connection speaks only for
 * its own awareness ids, its states go (and peers are told) when it closes, and a client that
 * reconnects with the clock it had is shown again at once rather than ignored by its peers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate } from 'y-protocols/awareness'
import { openIdentity } from '../src/auth/identity.js'
import { createRoomManager, type RoomManager } from '../src/collab/createRoomManager.js'
import { encodeAwarenessEntries } from '../src/protocol/awareness.js'
import { decodeMessage, encodeAwareness } from '../src/protocol/messages.js'
import type { EventStore } from '../src/store/types.js'
import { freshStore, anyBackend } from './fixtures/db.js'
import { FakeSocket } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

const awarenessFrame = (clientID: number, clock: number, state: Record<string, unknown> | null): Uint8Array =>
  encodeAwareness(encodeAwarenessEntries([{ clientID, clock, state }]))

/** A stock awareness fed with every awareness frame a socket received so far. */
function observe(socket: FakeSocket): Awareness {
  const awareness = new Awareness(new Y.Doc())
  awareness.setLocalState(null)
  let seen = 0
  const feed = (): void => {
    for (; seen < socket.sent.length; seen++) {
      const message = decodeMessage(socket.sent[seen]!, { maxBytes: Infinity })
      if (message.kind === 'awareness') applyAwarenessUpdate(awareness, message.update, 'server')
    }
  }
  const original = socket.send.bind(socket)
  socket.send = (frame) => {
    original(frame)
    feed()
  }
  feed()
  return awareness
}

describe('presence', () => {
  let store: EventStore
  let closeStore: () => Promise<void>
  let rooms: RoomManager
  beforeAll(async () => {
    ;({ store, close: closeStore } = await freshStore(anyBackend))
    rooms = createRoomManager({ store, config: { maxAwarenessPerConnection: 2 } })
  })
  afterAll(async () => {
    await rooms.close()
    await closeStore()
  })

  const join = async (session: string, id: string): Promise<FakeSocket> => {
    const socket = new FakeSocket()
    rooms.attach(socket, session, { ...openIdentity({ id, name: id.toUpperCase() }), role: 'editor' })
    await until(() => socket.sent.length > 0, { what: `${id} to join` })
    return socket
  }

  it('stamps the user, removes states when their connection closes, and shows a reconnected client again', async () => {
    const bob = await join('p1', 'bob')
    const seen = observe(bob)
    const alice = await join('p1', 'alice')
    alice.deliver(awarenessFrame(7, 3, { cursor: 1, user: { id: 'bob' } }))
    await alice.handled()
    expect(seen.getStates().get(7)).toEqual({ cursor: 1, user: { id: 'alice', name: 'ALICE', kind: 'human' } })
    alice.gone()
    await until(() => !seen.getStates().has(7), { what: 'alice\'s state to be removed' })
    // A stock client reconnects with the same clientID and the same clock.
    const again = await join('p1', 'alice')
    again.deliver(awarenessFrame(7, 3, { cursor: 2 }))
    await again.handled()
    expect(seen.getStates().get(7)).toMatchObject({ cursor: 2 })
    // Its later renewals keep counting from there.
    again.deliver(awarenessFrame(7, 4, { cursor: 3 }))
    await again.handled()
    expect(seen.getStates().get(7)).toMatchObject({ cursor: 3 })
    // A newcomer gets the current states when it joins.
    const carol = await join('p1', 'carol')
    expect(observe(carol).getStates().get(7)).toMatchObject({ cursor: 3 })
  })

  it('ignores states for ids another participant holds, and closes a connection claiming too many', async () => {
    const bob = await join('p2', 'bob')
    const seen = observe(bob)
    const alice = await join('p2', 'alice')
    alice.deliver(awarenessFrame(1, 1, { mine: true }))
    await alice.handled()
    const mallory = await join('p2', 'mallory')
    mallory.deliver(awarenessFrame(1, 5, null))
    mallory.deliver(awarenessFrame(1, 6, { mine: false }))
    await mallory.handled()
    expect(seen.getStates().get(1)).toMatchObject({ mine: true, user: { id: 'alice' } })
    mallory.deliver(awarenessFrame(21, 1, {}))
    mallory.deliver(awarenessFrame(22, 1, {}))
    await mallory.handled()
    expect(mallory.closedWith).toBeUndefined()
    mallory.deliver(awarenessFrame(23, 1, {}))
    await mallory.handled()
    expect(mallory.closedWith?.code).toBe(1008)
    await until(() => !seen.getStates().has(21) && !seen.getStates().has(22), { what: 'mallory\'s states to go' })
    expect(seen.getStates().get(1)).toMatchObject({ mine: true })
  })

  it('answers query-awareness with every state', async () => {
    const alice = await join('p3', 'alice')
    alice.deliver(awarenessFrame(9, 1, { here: true }))
    await alice.handled()
    const bob = await join('p3', 'bob')
    const before = bob.sent.length
    bob.deliver(Uint8Array.of(3))
    await bob.handled()
    expect(bob.sent.length).toBe(before + 1)
    const message = decodeMessage(bob.sent.at(-1)!, { maxBytes: Infinity })
    expect(message.kind).toBe('awareness')
  })
})
