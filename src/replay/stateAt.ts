/**
 * The session as it was at a point of its timeline: the document state (plain JSON) after
 * every event up to a position, loaded from the newest snapshot at or before it plus the
 * `doc.update` events after that snapshot.
 */
import { readState } from '../session/readState.js'
import type { SessionState } from '../session/schema.js'
import type { EventStore } from '../store/types.js'
import { loadDocument, type SkippedUpdate } from './loadDocument.js'
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
  return stateAtPoint(store, session, await lastEventAt(store, session, position))
}

/** The state after every event recorded at or before `time` (ISO 8601). */
export async function stateAtTime(store: EventStore, session: string, time: string | Date): Promise<StateAt> {
  return stateAtPoint(store, session, await positionAtTime(store, session, time))
}

async function stateAtPoint(store: EventStore, session: string, point: TimelinePoint | undefined): Promise<StateAt> {
  if (!point) return { position: 0, version: 0, state: emptyState(), skipped: [] }
  const loaded = await loadDocument(store, session, { at: point.position })
  try {
    return { position: point.position, version: point.version, state: readState(loaded.doc), skipped: loaded.skipped }
  } finally {
    loaded.doc.destroy()
  }
}
