/**
 * Takes the `log_head` row lock that every writer of the log holds (migrations/0001) and
 * returns the log's head position. Projections that must not interleave with appends take it
 * in their own transactions.
 */
import type { SqlExecutor } from '../types.js'

export async function lockLog(tx: SqlExecutor): Promise<number> {
  const [row] = await tx.query<{ position: string | number }>('SELECT position FROM log_head FOR UPDATE')
  return Number(row.position)
}
