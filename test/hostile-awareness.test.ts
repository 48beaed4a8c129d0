/**
 * Hostile defects 6, 7 and 8, on a room's presence directly: a released awareness client id
 * stays its identity's (no takeover), one identity cannot fill the room's claims over many
 * connections, and awareness states are bounded in bytes per connection and per room. And the
 * echoes every stock provider sends of the states it receives are dropped without being read.
 */
import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { createPresence } from '../src/collab/presence.js'
import { DEFAULT_ROOM_CONFIG, type Connection, type RoomConfig } from '../src/collab/types.js'
import { encodeAwarenessEntries } from '../src/protocol/awareness.js'
import { ProtocolError } from '../src/protocol/ProtocolError.js'

let next = 0
/** Just what presence reads of a connection. */
function conn(identity: string): Connection {
  next += 1
  return {
    identity: { id: identity, name: identity, kind: 'human', role: 'editor', sessions: ['*'] },
    participant: { id: identity, name: identity, kind: 'human' },
    awarenessClients: new Set<number>(),
    key: next,
  } as unknown as Connection
}

const update = (clientID: number, clock: number, state: Record<string, unknown> | null) =>
  encodeAwarenessEntries([{ clientID, clock, state }])

function room(config: Partial<RoomConfig> = {}) {
  const doc = new Y.Doc()
  const presence = createPresence(doc, { ...DEFAULT_ROOM_CONFIG, ...config }, () => {})
  const userOf = (clientID: number) => (presence.awareness.getStates().get(clientID) as { user?: { id: string } } | undefined)?.user?.id
  return { presence, userOf }
}

describe('awareness under a hostile participant', () => {
  it('#6: after Alice closes, Bob cannot claim her client id; Alice can, on reconnecting', () => {
    const { presence, userOf } = room()
    const alice = conn('alice')
    presence.receive(alice, update(7, 1, { cursor: 1 }))
    expect(userOf(7)).toBe('alice')
    presence.release(alice)
    const bob = conn('bob')
    presence.receive(bob, update(7, 5, { cursor: 2 }))
    expect(userOf(7)).toBeUndefined()
    const back = conn('alice')
    presence.receive(back, update(7, 2, { cursor: 3 }))
    expect(userOf(7)).toBe('alice')
  })

  it('#6: the hold ends after awarenessOwnerMs', () => {
    const { presence, userOf } = room({ awarenessOwnerMs: 0 })
    const alice = conn('alice')
    presence.receive(alice, update(8, 1, { cursor: 1 }))
    presence.release(alice)
    presence.receive(conn('bob'), update(8, 5, { cursor: 2 }))
    expect(userOf(8)).toBe('bob')
  })

  it('#7: one identity over many connections claims at most maxAwarenessPerIdentity ids; others still show', () => {
    const { presence, userOf } = room({ maxAwarenessPerRoom: 1000, maxAwarenessPerIdentity: 32 })
    let id = 1000
    for (let c = 0; c < 64; c++) {
      const socket = conn('viewer')
      for (let i = 0; i < 16; i++) presence.receive(socket, update(id++, 1, { fake: true }))
    }
    expect(presence.size()).toBe(32)
    presence.receive(conn('carol'), update(1, 1, { cursor: 1 }))
    expect(userOf(1)).toBe('carol')
  })

  it('#8: states beyond a connection\'s or the room\'s byte budget are dropped', () => {
    const { presence, userOf } = room({ maxAwarenessBytesPerConnection: 10_000, maxAwarenessBytesPerRoom: 25_000 })
    const big = { blob: 'x'.repeat(4_000) }
    const mallory = conn('mallory')
    for (let i = 0; i < 4; i++) presence.receive(mallory, update(100 + i, 1, big))
    expect([100, 101, 102, 103].filter((id) => userOf(id))).toEqual([100, 101]) // 2 × ~4 KB fit in 10 KB
    // A state may shrink, and then another fits.
    presence.receive(mallory, update(100, 2, { small: 1 }))
    presence.receive(mallory, update(102, 2, big))
    expect(userOf(102)).toBe('mallory')
    // The room's budget holds over many connections (each within its own).
    for (let c = 0; c < 10; c++) presence.receive(conn(`p${c}`), update(200 + c, 1, big))
    const held = [...presence.awareness.getStates().values()].reduce((n, s) => n + JSON.stringify(s).length, 0)
    expect(held).toBeLessThanOrEqual(25_000)
    expect(presence.size()).toBeLessThan(13)
  })
})

describe('echoes of the states others hold', () => {
  it('drops them unread, yet reads a state its identity may take over and refuses a malformed echo', () => {
    const { presence, userOf } = room()
    const alice = conn('alice')
    const bob = conn('bob')
    presence.receive(alice, update(7, 1, { cursor: 1 }))
    presence.receive(bob, update(8, 1, { cursor: 2 }))
    const parse = vi.spyOn(JSON, 'parse')
    try {
      // What Bob's provider sends back when it is told Alice's state (its `user` as stamped).
      expect(presence.receive(bob, update(7, 1, { cursor: 1, user: { id: 'alice', name: 'alice', kind: 'human' } }))).toBe(true)
      expect(parse).not.toHaveBeenCalled()
      // Mixed with a state of its own, the update is read, and only its own state is taken.
      expect(presence.receive(bob, encodeAwarenessEntries([{ clientID: 7, clock: 2, state: { cursor: 9 } }, { clientID: 8, clock: 2, state: { cursor: 3 } }]))).toBe(true)
      expect(parse).toHaveBeenCalled()
    } finally {
      parse.mockRestore()
    }
    expect(presence.awareness.getStates().get(7)).toMatchObject({ cursor: 1, user: { id: 'alice' } })
    expect(presence.awareness.getStates().get(8)).toMatchObject({ cursor: 3, user: { id: 'bob' } })
    // Alice on a second connection (a reconnect before the old socket closed) still takes her id.
    const aliceAgain = conn('alice')
    presence.receive(aliceAgain, update(7, 2, { cursor: 4 }))
    expect(presence.awareness.getStates().get(7)).toMatchObject({ cursor: 4 })
    expect(userOf(7)).toBe('alice')
    // A truncated echo is refused as any malformed update is.
    const whole = update(7, 3, { cursor: 5 })
    expect(() => presence.receive(bob, whole.subarray(0, whole.length - 2))).toThrow(ProtocolError)
  })
})
