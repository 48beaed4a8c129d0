/** The position of a session's newest event of some exact types (0 when it has none). */
import type { SqlExecutor } from '../types.js'

export async function lastPositionOfTypes(db: SqlExecutor, session: string, types: readonly string[]): Promise<number> {
  if (types.length === 0) return 0
  // One max() per type: each is a single backward step on the (session_id, type, position) index.
  const rows = await db.query<{ position: string | number | null }>(
    `SELECT GREATEST(${types.map((_, i) => `(SELECT max(position) FROM events WHERE session_id = $1 AND type = $${i + 2})`).join(', ')}) AS position`,
    [session, ...types],
  )
  return Number(rows[0]?.position ?? 0)
}
