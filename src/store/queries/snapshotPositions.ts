/** The positions of a session's snapshots, in no particular order. */
import type { SqlExecutor } from '../types.js'

export async function snapshotPositions(db: SqlExecutor, session: string): Promise<number[]> {
  const rows = await db.query<{ position: string | number }>('SELECT position FROM snapshots WHERE session_id = $1', [session])
  return rows.map((r) => Number(r.position))
}
