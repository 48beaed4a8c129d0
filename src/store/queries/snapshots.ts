/**
 * Writing and reading document snapshots. A snapshot over `PART_BYTES` goes in parts
 * (`snapshot_parts`, migration 0009), one statement each with a turn of the event loop between
 * them, and its `snapshots` row last: the embedded database runs on the server's thread, and a
 * 20 MB snapshot in one statement held it for over a second (hostile defect 10). A snapshot whose
 * parts are not all there is passed over for the next older one (snapshots are a cache of the log).
 *
 * Parts of 64 KiB, sent as base64 text: on PGlite (bench/hardening/large-document.ts, profiled) a
 * 256 KiB part held the thread 20–75 ms, most of it PGlite measuring and copying the parameter's
 * text; base64 is a third shorter than bytea's hex and wrote 1.5× faster, and a 64 KiB part takes
 * 1–2 ms, so a `/health` request waits behind one part at most.
 */
import type { Snapshot, SqlExecutor } from '../types.js'

export const PART_BYTES = 64 * 1024

/** Lets timers and sockets run between two statements. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A view of `state`'s bytes from `start` to `end`, without a copy. */
const slice = (state: Uint8Array, start: number, end: number): Buffer =>
  Buffer.from(state.buffer, state.byteOffset + start, Math.min(end, state.length) - start)

export async function saveSnapshot(db: SqlExecutor, snapshot: Omit<Snapshot, 'createdAt'>): Promise<void> {
  const { session, version, position, state } = snapshot
  const parts = state.length > PART_BYTES ? Math.ceil(state.length / PART_BYTES) : 0
  for (let part = 0; part < parts; part++) {
    await db.query(
      `INSERT INTO snapshot_parts (session_id, position, part, bytes) VALUES ($1, $2, $3, decode($4, 'base64'))
       ON CONFLICT (session_id, position, part) DO NOTHING`,
      [session, position, part, slice(state, part * PART_BYTES, (part + 1) * PART_BYTES).toString('base64')],
    )
    await turn()
  }
  await db.query(
    `INSERT INTO snapshots (session_id, version, position, state, parts) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (session_id, position) DO NOTHING`,
    [session, version, position, parts > 0 ? new Uint8Array(0) : state, parts],
  )
}

/** A `snapshots` row as read; `loadSnapshot` and `headAndSnapshot` make a Snapshot of it. */
export interface SnapshotRow {
  version: number
  position: string | number
  state: Uint8Array
  parts: number
  created_at: Date | string
}

/** The newest snapshot of `session` at or before `atOrBefore` (default: the newest). */
export async function loadSnapshot(db: SqlExecutor, session: string, atOrBefore?: number): Promise<Snapshot | undefined> {
  const rows = await db.query<SnapshotRow>(
    `SELECT version, position, state, parts, created_at FROM snapshots
     WHERE session_id = $1 AND ($2::bigint IS NULL OR position <= $2::bigint)
     ORDER BY position DESC LIMIT 1`,
    [session, atOrBefore ?? null],
  )
  return rows[0] ? snapshotOfRow(db, session, rows[0]) : undefined
}

/** The snapshot `row` holds, its parts read when it has them; incomplete: the next older one. */
export async function snapshotOfRow(db: SqlExecutor, session: string, row: SnapshotRow): Promise<Snapshot | undefined> {
  let state = new Uint8Array(row.state)
  if (row.parts > 0) {
    const chunks: Uint8Array[] = []
    for (let part = 0; part < row.parts; part++) {
      await turn()
      const found = await db.query<{ bytes: Uint8Array }>(
        'SELECT bytes FROM snapshot_parts WHERE session_id = $1 AND position = $2 AND part = $3',
        [session, row.position, part],
      )
      // Incomplete (a part deleted by hand, say): the next older snapshot serves instead.
      if (!found[0]) return Number(row.position) > 0 ? loadSnapshot(db, session, Number(row.position) - 1) : undefined
      chunks.push(found[0].bytes)
    }
    state = Buffer.concat(chunks)
  }
  return {
    session, version: row.version, position: Number(row.position), state, createdAt: new Date(row.created_at).toISOString(),
  }
}
