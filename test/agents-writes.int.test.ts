/**
 * The room's HTTP writes (collab/documentWrites.ts) under seeded random interleavings with
 * other writers' updates (appended to the log, arriving through the feed), stale and invalid
 * writes: after each round the room's document is exactly the log's, every refused write left
 * nothing anywhere, and the writes' replica never leaks what was not stored into a later write.
 */
import * as prng from 'lib0/prng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createRoomManager, type RoomManager } from '../src/collab/createRoomManager.js'
import type { DocOp } from '../src/session/docOps.js'
import { readState } from '../src/session/readState.js'
import { summarizeUpdate } from '../src/session/summarizeUpdate.js'
import { annotate, annotationText, select } from '../src/session/write.js'
import type { EventStore } from '../src/store/types.js'
import { sameDoc } from './fixtures/clients.js'
import { anyBackend, freshStore } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const agent = { id: 'nav', name: 'Navigator', kind: 'agent' as const, run: 'r-1' }
const human = { id: 'ada', name: 'Ada', kind: 'human' as const }

async function logDoc(store: EventStore, session: string): Promise<Y.Doc> {
  const doc = new Y.Doc()
  for (const event of await store.read(session, { types: ['doc.update'], limit: 10_000 })) Y.applyUpdate(doc, event.payload!)
  return doc
}

describe('HTTP document writes against other writers', () => {
  let store: EventStore
  let rooms: RoomManager
  let close: () => Promise<void>
  beforeAll(async () => {
    ;({ store, close } = await freshStore(anyBackend))
    rooms = createRoomManager({ store })
  })
  afterAll(async () => {
    await rooms.close()
    await close()
  })

  it('keeps the room equal to the log through random writes, refusals and failures (seeded)', async () => {
    const session = 'w1'
    await store.append(session, [{ type: 'session.created', data: {}, actor: human }])
    // Ada's replica: her updates go straight into the log, as another instance's would.
    const ada = new Y.Doc()
    const adaWrites = async (edit: (doc: Y.Doc) => void) => {
      const room = rooms.docOf(session)
      if (room) Y.applyUpdate(ada, Y.encodeStateAsUpdate(room)) // she has seen everything so far
      const before = Y.encodeStateVector(ada)
      edit(ada)
      const update = Y.encodeStateAsUpdate(ada, before)
      if (update.length <= 2) return
      // Summarized as the server summarizes a peer's: what the guard reads.
      const changes = summarizeUpdate(room ?? new Y.Doc(), update)
      await store.append(session, [{ type: 'doc.update', data: { bytes: update.length, changes }, payload: update, actor: human }])
    }
    const gen = prng.create(20261203)
    const memory = () => `m-${prng.int32(gen, 1, 4)}`
    let stored = 0
    const refused = { invalid: 0, stale: 0 }
    for (let round = 0; round < 120; round++) {
      const head = (await store.head(session))!
      const room = rooms.docOf(session)
      const state = room ? readState(room) : readState(ada)
      const annotations = Object.keys(state.annotations)
      const choice = prng.int32(gen, 0, 5)
      if (choice <= 1) {
        await adaWrites((d) => {
          if (choice === 0) select(d, memory(), 'ada')
          else if (annotations.length > 0) annotationText(d, prng.oneOf(gen, annotations))?.insert(0, 'x')
          else annotate(d, { id: `h-${round}`, target: memory(), author: 'ada', text: 'h' })
        })
        continue
      }
      const ops: DocOp[] = []
      for (let n = prng.int32(gen, 1, 3); n > 0; n--) {
        const kind = prng.int32(gen, 0, 4)
        if (kind === 0) ops.push({ op: 'select', memoryId: memory() })
        else if (kind === 1) ops.push({ op: 'deselect', memoryId: memory() })
        else if (kind === 2) ops.push({ op: 'annotate', target: memory(), text: `n${round}` })
        else if (kind === 3) ops.push({ op: 'explore', memoryId: memory() })
        // Sometimes impossible: an annotation nobody made.
        else ops.push({ op: 'resolve', annotationId: annotations.length > 0 && prng.bool(gen) ? prng.oneOf(gen, annotations) : 'nope' })
      }
      const basedOn = prng.bool(gen) ? Math.max(1, head.version - prng.int32(gen, 0, 6)) : undefined
      const before = (await store.read(session, { types: ['doc.update'], limit: 10_000 })).length
      const result = await rooms.writeDocument(session, { actor: agent, by: 'nav', ops, basedOn })
      const after = (await store.read(session, { types: ['doc.update'], limit: 10_000 })).length
      if (result.ok) {
        expect(after - before).toBe(result.update ? 1 : 0)
        if (result.update) stored += 1
      } else {
        expect(['invalid', 'stale'], JSON.stringify(result)).toContain(result.reason)
        expect(after).toBe(before)
        refused[result.reason as 'invalid' | 'stale'] += 1
      }
      // The room holds exactly the log, once the feed delivered Ada's updates.
      const truth = await logDoc(store, session)
      await until(() => sameDoc(rooms.docOf(session)!, truth), { what: `round ${round}: the room to equal the log` })
      // And the log is whole: no update waits for structs that were never stored.
      expect(truth.store.pendingStructs, `round ${round}`).toBeNull()
      truth.destroy()
    }
    expect(stored).toBeGreaterThan(20)
    expect(refused.invalid).toBeGreaterThan(3)
    expect(refused.stale).toBeGreaterThan(3)
    ada.destroy()
  }, 120_000)

  it('refuses a whole batch whose last operation is impossible, and the next write does not carry it', async () => {
    const session = 'w2'
    await store.append(session, [{ type: 'session.created', data: {}, actor: human }])
    const failed = await rooms.writeDocument(session, {
      actor: agent, by: 'nav', ops: [{ op: 'select', memoryId: 'ghost' }, { op: 'resolve', annotationId: 'nope' }],
    })
    expect(failed).toMatchObject({ ok: false, reason: 'invalid', index: 1, message: 'Unknown annotation "nope"' })
    const next = await rooms.writeDocument(session, { actor: agent, by: 'nav', ops: [{ op: 'select', memoryId: 'real' }] })
    expect(next.ok).toBe(true)
    expect(readState(rooms.docOf(session)!).selections).toEqual({ real: { by: 'nav', at: expect.any(Number) } })
    const truth = await logDoc(store, session)
    expect(readState(truth).selections).toEqual(readState(rooms.docOf(session)!).selections)
    // A deselect of what was never stored changes nothing.
    const noop = await rooms.writeDocument(session, { actor: agent, by: 'nav', ops: [{ op: 'deselect', memoryId: 'ghost' }] })
    expect(noop.ok).toBe(true)
    expect(noop.ok && noop.update).toBeUndefined()
  })
})
