/**
 * Snapshots written from the log: after an import, or for a session whose snapshots were
 * lost (they are a cache), so that "state at" anywhere reads one snapshot plus at most
 * `every` updates. Rooms keep them up to date while a session is live.
 */
import * as Y from 'yjs'
import type { EventStore } from '../store/types.js'
import { readTimeline } from './timeline.js'

export interface EnsureSnapshotsResult {
  /** `doc.update` events walked. */
  updates: number
  /** Snapshots written (existing ones are kept). */
  written: number
}

/**
 * Walks the session's `doc.update` events from the start and writes a snapshot wherever
 * `every` updates have passed since the previous snapshot (existing or new). A snapshot at
 * position P holds exactly the `doc.update` events at or before P.
 *
 * @example
 * await ensureSnapshots(store, 's1', 500)
 */
export async function ensureSnapshots(store: EventStore, session: string, every: number): Promise<EnsureSnapshotsResult> {
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`every must be a whole number ≥ 1 (got ${every})`)
  const existing = new Set(await store.snapshotPositions(session))
  const doc = new Y.Doc({ gc: true })
  let updates = 0
  let written = 0
  let since = 0
  try {
    for await (const event of readTimeline(store, session, { types: ['doc.update'], pageSize: 2000 })) {
      updates += 1
      if (event.payload) {
        try {
          Y.applyUpdate(doc, event.payload)
        } catch {
          // loadDocument skips such an update too, so the snapshot agrees with it.
        }
      }
      since += 1
      if (existing.has(event.position)) since = 0
      else if (since >= every) {
        await store.saveSnapshot({ session, version: event.version, position: event.position, state: Y.encodeStateAsUpdate(doc) })
        written += 1
        since = 0
      }
    }
  } finally {
    doc.destroy()
  }
  return { updates, written }
}
