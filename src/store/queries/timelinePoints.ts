/**
 * Points on a session's timeline: its last event at or before a position, or recorded at or
 * before a moment.
 */
import type { SqlExecutor } from '../types.js'

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

/** Walks the position index backwards from `position`. */
export async function lastEventAt(db: SqlExecutor, session: string, position: number): Promise<TimelinePoint | undefined> {
  const rows = await db.query<PointRow>(
    `SELECT position, version, recorded_at FROM events
     WHERE session_id = $1 AND position <= $2::bigint ORDER BY position DESC LIMIT 1`,
    [session, position],
  )
  return rows[0] ? toPoint(rows[0]) : undefined
}

/** Events recorded in the same instant (one append) count as one moment: the last of them is the answer. */
export async function lastEventBy(db: SqlExecutor, session: string, time: Date): Promise<TimelinePoint | undefined> {
  const rows = await db.query<PointRow>(
    `SELECT position, version, recorded_at FROM events
     WHERE session_id = $1 AND recorded_at <= $2::timestamptz
     ORDER BY recorded_at DESC, position DESC LIMIT 1`,
    [session, time.toISOString()],
  )
  return rows[0] ? toPoint(rows[0]) : undefined
}
