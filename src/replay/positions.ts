/**
 * Points on a session's timeline: the last event at or before a position, and the last event
 * recorded at or before a moment. "State at" and fork resolve the point a caller names to
 * an actual event with these, so the answer names a position that exists.
 */
import type { EventStore, TimelinePoint } from '../store/types.js'

export type { TimelinePoint }

/**
 * The session's last event at or before `position` (undefined when the session has none
 * there). Walks the position index backwards from `position`, so its cost grows with the
 * other sessions' events recorded after this session's last one before `position`.
 */
export function lastEventAt(store: EventStore, session: string, position: number): Promise<TimelinePoint | undefined> {
  return store.lastEventAt(session, position)
}

/**
 * The session's last event recorded at or before `time` (an ISO 8601 date-time or a Date);
 * undefined when the session had no event yet. Events recorded in the same instant (one
 * append) count as one moment: the last of them is the answer.
 */
export async function positionAtTime(store: EventStore, session: string, time: string | Date): Promise<TimelinePoint | undefined> {
  const at = typeof time === 'string' ? new Date(time) : time
  if (Number.isNaN(at.getTime())) throw new TypeError(`"${String(time)}" is not a date-time`)
  return store.lastEventBy(session, at)
}
