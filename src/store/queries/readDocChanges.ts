/**
 * The `changes` summaries of a session's `doc.update` events, without their payloads: what
 * blame, activity and the stale-write guard fold. One range scan of the
 * (session_id, type, position) index from the lower bound on.
 */
import type { Actor, EventMeta, SqlExecutor } from '../types.js'

export interface DocChangesQuery {
  /** Exclusive lower bound on the session's version. */
  afterVersion?: number
  /** Inclusive upper bound on the session's version. */
  throughVersion?: number
  /** Exclusive lower bound on position (paging). */
  after?: number
  /** Recorded at or after / at or before these instants. */
  from?: Date
  to?: Date
  /** Only events of this actor id, and of this run. */
  actor?: string
  run?: string
  limit: number
}

/** One `doc.update` as its summary: where, who, why and `data.changes` as stored (unchecked). */
export interface DocChangeRecord {
  position: number
  version: number
  actor: Actor
  meta: EventMeta
  recordedAt: string
  changes: unknown
}

interface Row {
  position: string | number
  version: number
  actor: Actor
  meta: EventMeta
  recorded_at: Date | string
  changes: unknown
}

export async function readDocChanges(db: SqlExecutor, session: string, q: DocChangesQuery): Promise<DocChangeRecord[]> {
  // The version bound becomes a position bound (the session's last event at or before that
  // version: one step on the (session_id, version) index), so the scan starts there.
  const rows = await db.query<Row>(
    `SELECT position, version, actor, meta, recorded_at, data->'changes' AS changes FROM events
     WHERE session_id = $1 AND type = 'doc.update'
       AND position > GREATEST($2::bigint, COALESCE(
         (SELECT position FROM events WHERE session_id = $1 AND version <= $3::int ORDER BY version DESC LIMIT 1), 0))
       AND ($4::int IS NULL OR version <= $4::int)
       AND ($5::timestamptz IS NULL OR recorded_at >= $5::timestamptz)
       AND ($6::timestamptz IS NULL OR recorded_at <= $6::timestamptz)
       AND ($7::text IS NULL OR actor->>'id' = $7::text)
       AND ($8::text IS NULL OR actor->>'run' = $8::text)
     ORDER BY position LIMIT $9::int`,
    [
      session, q.after ?? 0, q.afterVersion ?? 0, q.throughVersion ?? null,
      q.from?.toISOString() ?? null, q.to?.toISOString() ?? null, q.actor ?? null, q.run ?? null, q.limit,
    ],
  )
  return rows.map((row) => ({
    position: Number(row.position),
    version: Number(row.version),
    actor: row.actor,
    meta: row.meta,
    recordedAt: new Date(row.recorded_at).toISOString(),
    changes: row.changes,
  }))
}
