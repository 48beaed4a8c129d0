/**
 * Events of some exact types in a position range, of every session or of some, oldest first:
 * what projections fold.
 */
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../rows.js'
import type { SqlExecutor, StoredEvent } from '../types.js'

export interface TypedRange {
  types: readonly string[]
  /** Exclusive lower bound on position. */
  after: number
  /** Exclusive upper bound on position (default: none). */
  before?: number
  /** Only these sessions (default: all). */
  sessions?: readonly string[]
  limit: number
}

export async function readOfTypes(db: SqlExecutor, { types, after, before, sessions, limit }: TypedRange): Promise<StoredEvent[]> {
  const rows = await db.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events
     WHERE type = ANY($1::text[]) AND position > $2::bigint
       AND ($3::bigint IS NULL OR position < $3::bigint)
       AND ($4::text[] IS NULL OR session_id = ANY($4::text[]))
     ORDER BY position LIMIT $5`,
    [types, after, before ?? null, sessions ?? null, limit],
  )
  return rows.map(toStoredEvent)
}
