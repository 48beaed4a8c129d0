/** The newest events of some exact types in one session, oldest first. */
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../rows.js'
import type { SqlExecutor, StoredEvent } from '../types.js'

export async function readNewestOfTypes(db: SqlExecutor, session: string, types: readonly string[], limit: number): Promise<StoredEvent[]> {
  if (types.length === 0) return []
  // One backward index scan per type, merged: `type = ANY(…) ORDER BY position DESC` would
  // read every such event of the session before sorting.
  const perType = types.map(
    (_, i) => `(SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 AND type = $${i + 3} ORDER BY position DESC LIMIT $2)`,
  )
  const rows = await db.query<EventRow>(
    `SELECT * FROM (${perType.join(' UNION ALL ')}) recent ORDER BY position DESC LIMIT $2`,
    [session, limit, ...types],
  )
  return rows.map(toStoredEvent).reverse()
}
