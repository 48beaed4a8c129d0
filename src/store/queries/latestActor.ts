/**
 * The actor of the newest event an identity produced, in any session: how the kill switch learns
 * whom an agent acts for (its `onBehalfOf`), since tokens are not kept anywhere.
 */
import type { Actor, SqlExecutor } from '../types.js'

/**
 * Undefined when `id` never produced an event. A backward walk of the log that stops at the
 * first match: quick for an agent that was active lately (the one someone wants to stop), a
 * full scan for an id that never was — the route behind it is for admins and the humans agents
 * name, and the HTTP rate limit bounds it.
 */
export async function latestActor(db: SqlExecutor, id: string): Promise<Actor | undefined> {
  const rows = await db.query<{ actor: Actor }>(
    `SELECT actor FROM events WHERE actor->>'id' = $1 ORDER BY position DESC LIMIT 1`,
    [id],
  )
  return rows[0]?.actor
}
