/**
 * What the context summary needs from the log besides the document and the participants:
 * the newest memory events of a session, read with indexed queries only.
 */
import type { ContextEvent } from './context.js'
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../store/rows.js'
import type { EventStore } from '../store/types.js'

/** Every `memory.*` type there is: clients may append only three, the server two more. */
export const MEMORY_TYPES: readonly string[] = [
  'memory.formed', 'memory.connected', 'memory.strength_changed', 'memory.cascade', 'memory.retrieved',
]

/** The newest `limit` memory events, oldest first. */
export async function readRecentMemoryEvents(store: EventStore, session: string, limit: number): Promise<ContextEvent[]> {
  // One backward index scan per type, merged: `type = ANY(…) ORDER BY position DESC` would
  // read every memory event of the session before sorting.
  const perType = MEMORY_TYPES.map(
    (_, i) => `(SELECT ${EVENT_COLUMNS} FROM events WHERE session_id = $1 AND type = $${i + 3} ORDER BY position DESC LIMIT $2)`,
  )
  const rows = await store.driver.query<EventRow>(
    `SELECT * FROM (${perType.join(' UNION ALL ')}) recent ORDER BY position DESC LIMIT $2`,
    [session, limit, ...MEMORY_TYPES],
  )
  return rows
    .map(toStoredEvent)
    .reverse()
    .map((e) => ({ position: e.position, type: e.type, data: e.data, actor: e.actor }))
}
