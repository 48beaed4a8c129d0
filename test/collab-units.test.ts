/** The small pure parts of collab: hasNewContent, the decision event id, the acceptance update, when snapshots are due. */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { acceptanceUpdate, decisionEventId } from '../src/collab/decisionRule.js'
import { hasNewContent } from '../src/collab/hasNewContent.js'
import { truncateReason } from '../src/collab/connection.js'
import { countApplied } from '../src/collab/limits.js'
import { noObserver, type CollabContext, type Room } from '../src/collab/types.js'
import { maybeSnapshot } from '../src/collab/upkeep.js'
import { findReachedDecisions, propose, vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { deselect, select } from '../src/session/write.js'

const copy = (doc: Y.Doc): Y.Doc => {
  const other = new Y.Doc()
  Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
  return other
}

describe('hasNewContent', () => {
  it('is false for what the doc has (a reconnecting client\'s step 2, a viewer\'s empty one)', () => {
    const server = new Y.Doc()
    select(server, 'a', 'x')
    select(server, 'b', 'x')
    deselect(server, 'a')
    const client = copy(server)
    expect(hasNewContent(server, Y.encodeStateAsUpdate(client))).toBe(false)
    expect(hasNewContent(server, Y.encodeStateAsUpdate(client, Y.encodeStateVector(server)))).toBe(false)
    expect(hasNewContent(server, Y.encodeStateAsUpdate(new Y.Doc()))).toBe(false)
  })

  it('is true for a new struct, and for a delete the doc has not made', () => {
    const server = new Y.Doc()
    select(server, 'a', 'x')
    const client = copy(server)
    const before = Y.encodeStateVector(client)
    select(client, 'c', 'y')
    expect(hasNewContent(server, Y.encodeStateAsUpdate(client, before))).toBe(true)
    const deleter = copy(server)
    const updates: Uint8Array[] = []
    deleter.on('update', (u: Uint8Array) => updates.push(u))
    deselect(deleter, 'a')
    expect(hasNewContent(server, updates[0]!)).toBe(true)
    Y.applyUpdate(server, updates[0]!)
    expect(hasNewContent(server, updates[0]!)).toBe(false)
  })
})

describe('the decision rule\'s parts', () => {
  it('derives one UUID per session and decision', () => {
    const id = decisionEventId('s1', 'd1')
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(decisionEventId('s1', 'd1')).toBe(id)
    expect(decisionEventId('s2', 'd1')).not.toBe(id)
    expect(decisionEventId('s1', 'd2')).not.toBe(id)
  })

  it('computes the acceptance on a copy and leaves the room doc as it was', () => {
    const doc = new Y.Doc()
    propose(doc, { id: 'd', question: 'q', options: ['a', 'b'], quorum: 1, createdBy: 'x' })
    vote(doc, 'd', 'x', 'b')
    const [reached] = findReachedDecisions(doc)
    const update = acceptanceUpdate(doc, reached!)!
    expect(readState(doc).decisions.d!.status).toBe('open')
    Y.applyUpdate(doc, update)
    expect(readState(doc).decisions.d).toMatchObject({ status: 'accepted', outcome: 'b' })
    expect(acceptanceUpdate(doc, reached!)).toBeUndefined()
  })
})

it('cuts close reasons to 123 bytes on a character boundary', () => {
  expect(truncateReason('short')).toBe('short')
  const long = truncateReason('é'.repeat(100))
  expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123)
  expect(long).toBe('é'.repeat(61))
})

describe('when a snapshot is due', () => {
  /** A room at rest (nothing in flight, the feed caught up) whose updates `apply` counts. */
  function restingRoom(snapshotEvery: number) {
    const saved: number[] = []
    const room = {
      session: 's', doc: new Y.Doc(), inFlight: 0, appliedPosition: 0, caughtUpTo: 0, caughtUpVersion: 0,
      sinceSnapshot: 0, sinceSnapshotBytes: 0, snapshotPosition: 0, snapshotBytes: 0,
    } as unknown as Room
    const ctx = {
      config: { snapshotEvery },
      store: { saveSnapshot: async (s: { state: Uint8Array }) => { saved.push(s.state.length) } },
      track: (p: Promise<unknown>) => p,
      log: { warn() {} },
      observe: noObserver,
    } as unknown as CollabContext
    let n = 0
    const apply = (bytes: number) => {
      const before = Y.encodeStateVector(room.doc)
      room.doc.getMap('selections').set(`k${n++}`, 'x'.repeat(bytes))
      countApplied(room, Y.encodeStateAsUpdate(room.doc, before))
      room.caughtUpTo = room.appliedPosition = n
      return maybeSnapshot(ctx, room)
    }
    return { room, ctx, saved, apply }
  }

  it('comes after snapshotEvery updates while the document is small', () => {
    const { saved, apply } = restingRoom(10)
    const written = Array.from({ length: 30 }, () => apply(5)).filter(Boolean)
    expect(written).toHaveLength(3)
    expect(saved).toHaveLength(3)
  })

  it('waits, for a large document, until the updates since add up to a quarter of its last snapshot', () => {
    const { room, saved, apply } = restingRoom(10)
    apply(40_000) // one large entry
    for (let i = 0; i < 9; i++) apply(10)
    expect(saved).toHaveLength(1) // the 10th update: due by count, the first snapshot
    const first = saved[0]!
    let updates = 0
    while (saved.length === 1 && updates < 10_000) { apply(100); updates += 1 }
    expect(saved).toHaveLength(2)
    // Not after 10 updates of ~100 bytes, but once they reached a quarter of the snapshot.
    expect(updates).toBeGreaterThan(10)
    expect(room.sinceSnapshotBytes).toBe(0)
    const perUpdate = first / 4 / updates
    expect(perUpdate).toBeGreaterThan(50)
    expect(perUpdate).toBeLessThan(200)
  })

  it('is written when forced (unloading) whatever the counts, but never twice for one position', () => {
    const { room, ctx, saved, apply } = restingRoom(1000)
    apply(10)
    expect(saved).toHaveLength(0)
    expect(maybeSnapshot(ctx, room, true)).toBe(true)
    expect(maybeSnapshot(ctx, room, true)).toBe(false)
    expect(saved).toHaveLength(1)
  })
})
