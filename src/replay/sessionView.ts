/**
 * A session as it stood at a point, with what a reader needs around its document state:
 * its title and origin (from `session.created`), who took part by then, and when that was.
 * `mnemo replay` prints it as JSON or as a briefing.
 */
import type { SessionState } from '../session/schema.js'
import type { EventStore } from '../store/types.js'
import type { SessionParticipant } from '../vocabulary.js'
import { listParticipants } from './participants.js'
import { stateAt, stateAtTime } from './stateAt.js'

export interface SessionView {
  session: string
  title?: string
  forkedFrom?: { session: string; position: number }
  /** The session's last event at or before the point asked for (0: none yet). */
  position: number
  version: number
  /** When that event was recorded. */
  recordedAt?: string
  /** The session's newest version, to tell a past view from the present. */
  headVersion: number
  participants: SessionParticipant[]
  state: SessionState
}

/** The view at position `at`, or at `time`, or now; undefined for an unknown session. */
export async function sessionViewAt(
  store: EventStore, session: string, point: { at?: number; time?: string } = {},
): Promise<SessionView | undefined> {
  const head = await store.head(session)
  if (!head) return undefined
  const { position, version, state } = point.time !== undefined
    ? await stateAtTime(store, session, point.time)
    : await stateAt(store, session, point.at)
  const [[created], [atEvent], participants] = await Promise.all([
    store.read(session, { limit: 1, types: ['session.created'] }),
    position > 0 ? store.read(session, { after: position - 1, limit: 1 }) : [],
    position > 0 ? listParticipants(store, session, position) : [],
  ])
  const view: SessionView = { session, position, version, headVersion: head.version, participants, state }
  const data = created?.data ?? {}
  if (typeof data.title === 'string') view.title = data.title
  if (isForkOrigin(data.forkedFrom)) view.forkedFrom = data.forkedFrom
  if (atEvent) view.recordedAt = atEvent.recordedAt
  return view
}

function isForkOrigin(value: unknown): value is { session: string; position: number } {
  const v = value as { session?: unknown; position?: unknown } | undefined
  return typeof v?.session === 'string' && typeof v.position === 'number'
}
