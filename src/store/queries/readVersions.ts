/** A session's events by version range: versions have no gaps, so a page touches one page of rows. */
import { EVENT_COLUMNS, toStoredEvent, typeFilter, type EventRow } from '../rows.js'
import type { SqlExecutor, StoredEvent } from '../types.js'

export interface VersionRange {
  /** Exclusive lower bound. */
  after: number
  /** Inclusive upper bound (default: none). */
  through?: number
  /** Default: 1000 without `through`, none with it. */
  limit?: number
  /** Only these types: exact names or prefix patterns like `memory.*` (default: all). */
  types?: string[]
}

export async function readVersions(db: SqlExecutor, session: string, { after, through, limit, types }: VersionRange): Promise<StoredEvent[]> {
  const filter = typeFilter(types, 5)
  const rows = await db.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events
     WHERE session_id = $1 AND version > $2 AND ($3::int IS NULL OR version <= $3::int)${filter ? ` AND ${filter.sql}` : ''}
     ORDER BY version LIMIT $4::int`,
    [session, after, through ?? null, limit ?? (through === undefined ? 1000 : null), ...(filter?.params ?? [])],
  )
  return rows.map(toStoredEvent)
}
