/**
 * The session as it was at a point of its timeline: the document state (plain JSON) after
 * every event up to a position, loaded from the newest snapshot at or before it plus the
 * `doc.update` events after that snapshot.
 */
import { readState } from '../session/readState.js'
import type { SessionState } from '../session/schema.js'
import type { EventStore } from '../store/types.js'
import { loadDocument, type LoadedDocument, type SkippedUpdate } from './loadDocument.js'
import { lastEventAt, positionAtTime, type TimelinePoint } from './positions.js'

export interface StateAt {
  /** The session's last event at or before the position asked for; 0 before its first event. */
  position: number
  /** That event's version (0 before the first event). */
  version: number
  state: SessionState
  /** Stored updates yjs refused; the state is what the rest of them make. */
  skipped: SkippedUpdate[]
}

export const emptyState = (): SessionState => ({ selections: {}, explorationPath: [], annotations: {}, decisions: {} })

/**
 * The state after the session's events up to and including `position` (default: all).
 *
 * @example
 * const { version, state } = await stateAt(store, 's1', 1200)
 */
export async function stateAt(store: EventStore, session: string, position: number = Number.MAX_SAFE_INTEGER): Promise<StateAt> {
  // Loading up to `position` reads the same updates as loading up to the last event at or
  // before it, so both queries can go at once.
  const [point, loaded] = await Promise.all([lastEventAt(store, session, position), loadDocument(store, session, { at: position })])
  return readLoaded(point, loaded)
}

/** The state after every event recorded at or before `time` (ISO 8601). */
export async function stateAtTime(store: EventStore, session: string, time: string | Date): Promise<StateAt> {
  const point = await positionAtTime(store, session, time)
  return readLoaded(point, point ? await loadDocument(store, session, { at: point.position }) : undefined)
}

function readLoaded(point: TimelinePoint | undefined, loaded: LoadedDocument | undefined): StateAt {
  try {
    if (!point || !loaded) return { position: 0, version: 0, state: emptyState(), skipped: [] }
    return { position: point.position, version: point.version, state: readState(loaded.doc), skipped: loaded.skipped }
  } finally {
    loaded?.doc.destroy()
  }
}
