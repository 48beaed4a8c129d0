/**
 * A session's Yjs document as of a position: the newest snapshot at or before it, plus the
 * `doc.update` events after the snapshot. Rooms load with it, and so does "state at".
 */
import { randomUUID } from 'node:crypto'
import * as Y from 'yjs'
import type { EventStore, HeadAndSnapshot } from '../store/types.js'

export interface LoadOptions {
  /** Inclusive upper bound on position; default: everything. */
  at?: number
  /**
   * Keep the snapshot's bytes and the updates applied on top of it (`LoadedDocument.source`)
   * when the snapshot is at least this large: a room rebuilds its next snapshot from them off
   * the event loop (collab/upkeep.ts). Default: keep nothing.
   */
  keepSourceFrom?: number
  /**
   * The session's head and newest snapshot, read already (`store.headAndSnapshot`, a room's
   * load): the snapshot is not read again, and the log only when the head is past it. Not with `at`.
   */
  start?: HeadAndSnapshot
}

/** A stored update that yjs refused to apply; the rest of the session loads without it. */
export interface SkippedUpdate {
  id: string
  version: number
  position: number
  error: string
}

export interface LoadedDocument {
  doc: Y.Doc
  /**
   * The position the document stands for: it holds exactly the `doc.update` events at or
   * before it (the newest one applied, or the snapshot's position; 0 for none).
   */
  position: number
  /** The session version of the event (or snapshot) at `position`; 0 for none. */
  version: number
  /** The position of the snapshot the load started from, 0 when there was none. */
  snapshotPosition: number
  /** How many `doc.update` events were applied on top of the snapshot. */
  replayed: number
  skipped: SkippedUpdate[]
  /** With `keepSourceFrom`: the snapshot's state and the updates applied after it, in order. */
  source?: { base: Uint8Array; updates: Uint8Array[] }
}

const PAGE = 10_000

/**
 * Loads the document. Each update is applied on its own, so one that fails (stored before
 * yjs could judge it) is set aside in `skipped` instead of making the session unloadable.
 * A snapshot that fails to apply is ignored and the whole log replayed instead.
 *
 * @example
 * const { doc, position } = await loadDocument(store, 's1', { at: 1200 })
 */
export async function loadDocument(store: EventStore, session: string, { at, keepSourceFrom, start }: LoadOptions = {}): Promise<LoadedDocument> {
  if (start && at !== undefined) throw new Error('loadDocument: start is the newest state; it does not go with at')
  const snapshot = start ? start.snapshot : await store.loadSnapshot(session, at)
  // A guid of its own: yjs' default (lib0's uuidv4) asks the platform for randomness 31 times.
  let doc = new Y.Doc({ guid: randomUUID() })
  let position = 0
  let version = 0
  let source: LoadedDocument['source']
  if (snapshot) {
    try {
      Y.applyUpdate(doc, snapshot.state, 'load')
      position = snapshot.position
      version = snapshot.version
      if (keepSourceFrom !== undefined && snapshot.state.length >= keepSourceFrom) source = { base: snapshot.state, updates: [] }
    } catch {
      // A snapshot is only a shortcut: the log alone is the truth.
      doc.destroy()
      doc = new Y.Doc({ guid: randomUUID() })
    }
  }
  const snapshotPosition = position
  const skipped: SkippedUpdate[] = []
  let replayed = 0
  // The head at or before what the snapshot holds (or no session at all): nothing to read.
  const past = start === undefined || (start.head !== undefined && start.head.position > position)
  while (past) {
    const page = await store.read(session, { after: position, until: at, types: ['doc.update'], limit: PAGE })
    for (const event of page) {
      position = event.position
      version = event.version
      if (!event.payload) continue
      try {
        Y.applyUpdate(doc, event.payload, 'load')
        replayed += 1
        source?.updates.push(event.payload)
      } catch (error) {
        skipped.push({ id: event.id, version: event.version, position: event.position, error: String(error) })
      }
    }
    if (page.length < PAGE) break
  }
  return { doc, position, version, snapshotPosition, replayed, skipped, source }
}
