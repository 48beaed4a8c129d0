/**
 * Points on a session's timeline: the last event at or before a position, and the last event
 * recorded at or before a moment. "State at" and fork resolve the point a caller names to
 * an actual event with these, so the answer names a position that exists.
 */
import type { EventStore } from '../store/types.js'

/** An event of the session, as a point on its timeline. */
export interface TimelinePoint {
  position: number
  version: number
  recordedAt: string
}

interface PointRow {
  position: string | number
  version: number
  recorded_at: Date | string
}

const toPoint = (row: PointRow): TimelinePoint => ({
  position: Number(row.position),
  version: Number(row.version),
  recordedAt: new Date(row.recorded_at).toISOString(),
})

/**
 * The session's last event at or before `position` (undefined when the session has none
 * there). Walks the position index backwards from `position`, so its cost grows with the
 * other sessions' events recorded after this session's last one before `position`.
 */
export async function lastEventAt(store: EventStore, session: string, position: number): Promise<TimelinePoint | undefined> {
  const rows = await store.driver.query<PointRow>(
    `SELECT position, version, recorded_at FROM events
     WHERE session_id = $1 AND position <= $2::bigint ORDER BY position DESC LIMIT 1`,
    [session, position],
  )
  return rows[0] ? toPoint(rows[0]) : undefined
}

/**
 * The session's last event recorded at or before `time` (an ISO 8601 date-time or a Date);
 * undefined when the session had no event yet. Events recorded in the same instant (one
 * append) count as one moment: the last of them is the answer.
 */
export async function positionAtTime(store: EventStore, session: string, time: string | Date): Promise<TimelinePoint | undefined> {
  const at = typeof time === 'string' ? new Date(time) : time
  if (Number.isNaN(at.getTime())) throw new TypeError(`"${String(time)}" is not a date-time`)
  const rows = await store.driver.query<PointRow>(
    `SELECT position, version, recorded_at FROM events
     WHERE session_id = $1 AND recorded_at <= $2::timestamptz
     ORDER BY recorded_at DESC, position DESC LIMIT 1`,
    [session, at.toISOString()],
  )
  return rows[0] ? toPoint(rows[0]) : undefined
}
