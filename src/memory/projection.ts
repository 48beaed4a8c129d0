/**
 * The write side of the memory graph projection (migrations/0003): the append hook that
 * folds memory events into `memories` / `memory_connections` inside the append transaction,
 * the start-up catch-up, and `rebuildProjection` (delete and refold from the log).
 */
import { applyMemoryEvent, emptyGraph, type MemoryGraph } from './graph.js'
import type { Actor, AppendHook, SqlDriver, SqlExecutor, StoredEvent } from '../store/types.js'

/** The event types the projection folds; everything else leaves it unchanged. */
export const PROJECTED_TYPES: readonly string[] = ['memory.formed', 'memory.connected', 'memory.strength_changed']
const projected = new Set(PROJECTED_TYPES)

/** Events read back for folding per query (catch-up and rebuild work in chunks of this). */
const CHUNK = 5000

/** What the fold needs of an event, whether handed to the hook or read from the log. */
interface FoldEvent {
  session: string
  position: number
  type: string
  data: Record<string, unknown>
  actor: Pick<Actor, 'id' | 'name' | 'kind'>
  recordedAt: string
}

interface FoldRow {
  session_id: string
  position: string | number
  type: string
  data: Record<string, unknown>
  actor: Actor
  recorded_at: Date | string
}

const toFoldEvent = (row: FoldRow): FoldEvent => ({
  session: row.session_id,
  position: Number(row.position),
  type: row.type,
  data: row.data,
  actor: row.actor,
  recordedAt: new Date(row.recorded_at).toISOString(),
})

const FOLD_COLUMNS = 'session_id, position, type, data, actor, recorded_at'

/**
 * Folds events (in log order) into one graph per session: what changed, with the fold
 * rules of `graph.ts`. Writing such a delta with "last write wins" upserts gives the same
 * tables as folding the whole log, because every memory event sets absolute values.
 */
function foldBySession(events: Iterable<FoldEvent>): Map<string, MemoryGraph> {
  const deltas = new Map<string, MemoryGraph>()
  for (const event of events) {
    let graph = deltas.get(event.session)
    if (!graph) deltas.set(event.session, (graph = emptyGraph()))
    applyMemoryEvent(graph, event)
  }
  return deltas
}

/** Upserts a fold's result; moves the checkpoint to `checkpoint` when given. One statement. */
async function writeDeltas(tx: SqlExecutor, deltas: Map<string, MemoryGraph>, checkpoint?: number): Promise<void> {
  const memories: unknown[] = []
  const connections: unknown[] = []
  for (const [session, graph] of deltas) {
    for (const m of graph.memories.values()) {
      memories.push({
        session_id: session, memory_id: m.id, content: m.content, kind: m.kind ?? null, importance: m.importance,
        tags: m.tags, formed_at: m.formedAt, formed_by: m.formedBy,
      })
    }
    for (const c of graph.connections.values()) connections.push({ session_id: session, a: c.a, b: c.b, strength: c.strength })
  }
  if (memories.length === 0 && connections.length === 0 && checkpoint === undefined) return
  await tx.query(
    `WITH m AS (
       INSERT INTO memories (session_id, memory_id, content, kind, importance, tags, formed_at, formed_by)
       SELECT session_id, memory_id, content, kind, importance, tags, formed_at, formed_by
       FROM jsonb_to_recordset($1::text::jsonb) AS x(session_id text, memory_id text, content text, kind text,
         importance double precision, tags text[], formed_at timestamptz, formed_by jsonb)
       ON CONFLICT (session_id, memory_id) DO UPDATE
         SET content = excluded.content, kind = excluded.kind, importance = excluded.importance, tags = excluded.tags
     ), c AS (
       INSERT INTO memory_connections (session_id, a, b, strength)
       SELECT session_id, a, b, strength
       FROM jsonb_to_recordset($2::text::jsonb) AS x(session_id text, a text, b text, strength double precision)
       ON CONFLICT (session_id, a, b) DO UPDATE SET strength = excluded.strength
     )
     UPDATE memory_projection SET position = GREATEST(position, coalesce($3::bigint, position))`,
    [JSON.stringify(memories), JSON.stringify(connections), checkpoint ?? null],
  )
}

/** Projected events after the checkpoint and before `before`, oldest first, at most `limit`. */
async function readUnfolded(tx: SqlExecutor, before: number | null, limit: number): Promise<FoldEvent[]> {
  const rows = await tx.query<FoldRow>(
    `SELECT ${FOLD_COLUMNS} FROM events
     WHERE type = ANY($1::text[]) AND position > (SELECT position FROM memory_projection)
       AND ($2::bigint IS NULL OR position < $2::bigint)
     ORDER BY position LIMIT $3`,
    [PROJECTED_TYPES, before, limit],
  )
  return rows.map(toFoldEvent)
}

/**
 * The append hook. It runs after the batch's events are inserted, in the same transaction
 * and under the `log_head` lock, so no other append can commit meanwhile. Projected events
 * that some writer left unfolded (an older mnemo during a rolling upgrade) are folded first:
 * the projection never skips an event of the log.
 */
export function createProjectionHook(): AppendHook {
  return async function projectMemoryEvents(tx: SqlExecutor, events: StoredEvent[]): Promise<void> {
    const mine = events.filter((e) => projected.has(e.type))
    if (mine.length === 0) return
    const first = mine[0].position
    for (;;) {
      const missed = await readUnfolded(tx, first, CHUNK)
      if (missed.length < CHUNK) {
        await writeDeltas(tx, foldBySession([...missed, ...mine]), events.at(-1)!.position)
        return
      }
      // Not reached in normal operation: the start-up catch-up folds old events in chunks.
      await writeDeltas(tx, foldBySession(missed), missed.at(-1)!.position)
    }
  }
}

/** Takes the lock every projection writer holds (the one appends take) and returns the log's head. */
async function lockLog(tx: SqlExecutor): Promise<number> {
  const [row] = await tx.query<{ position: string | number }>('SELECT position FROM log_head FOR UPDATE')
  return Number(row.position)
}

/**
 * Folds projected events the projection has not seen yet (all of them, the first time a
 * database with history is migrated). Chunked, each chunk its own short transaction, so
 * appends are held up for one chunk at a time. Returns how many events it folded.
 */
export async function catchUpProjection(driver: SqlDriver): Promise<number> {
  let total = 0
  for (;;) {
    const folded = await driver.transaction(async (tx) => {
      const head = await lockLog(tx)
      const chunk = await readUnfolded(tx, head + 1, CHUNK)
      if (chunk.length > 0) await writeDeltas(tx, foldBySession(chunk), chunk.at(-1)!.position)
      return chunk.length
    })
    total += folded
    if (folded < CHUNK) return total
  }
}

export interface RebuildResult {
  /** Sessions refolded (those with projected events, or every one asked for). */
  sessions: string[]
  events: number
  memories: number
  connections: number
  /** The log position the projection now reflects. */
  position: number
}

/**
 * Deletes the projection (of `sessions`, or all of it) and refolds it from the log, in one
 * transaction that holds the `log_head` lock: appends wait until it commits, readers see
 * the old projection until then.
 */
export async function rebuildProjection(driver: SqlDriver, sessions?: readonly string[]): Promise<RebuildResult> {
  const only = sessions && sessions.length > 0 ? [...new Set(sessions)] : null
  return driver.transaction(async (tx) => {
    const head = await lockLog(tx)
    const where = only ? 'WHERE session_id = ANY($1::text[])' : ''
    await tx.query(`DELETE FROM memories ${where}`, only ? [only] : [])
    await tx.query(`DELETE FROM memory_connections ${where}`, only ? [only] : [])
    const seen = new Set<string>(only ?? [])
    let events = 0
    for (let after = 0; ; ) {
      const rows = await tx.query<FoldRow>(
        `SELECT ${FOLD_COLUMNS} FROM events
         WHERE type = ANY($1::text[]) AND position > $2 AND position <= $3
           AND ($4::text[] IS NULL OR session_id = ANY($4::text[]))
         ORDER BY position LIMIT $5`,
        [PROJECTED_TYPES, after, head, only, CHUNK],
      )
      const chunk = rows.map(toFoldEvent)
      for (const e of chunk) seen.add(e.session)
      await writeDeltas(tx, foldBySession(chunk))
      events += chunk.length
      if (chunk.length < CHUNK) break
      after = chunk.at(-1)!.position
    }
    // A partial rebuild leaves other sessions as they were, so only a full one moves the checkpoint.
    if (!only) await tx.query('UPDATE memory_projection SET position = $1', [head])
    const counts = await tx.query<{ memories: string | number; connections: string | number }>(
      `SELECT (SELECT count(*) FROM memories ${where}) AS memories,
              (SELECT count(*) FROM memory_connections ${where}) AS connections`,
      only ? [only] : [],
    )
    return {
      sessions: [...seen].sort(),
      events,
      memories: Number(counts[0].memories),
      connections: Number(counts[0].connections),
      position: head,
    }
  })
}
