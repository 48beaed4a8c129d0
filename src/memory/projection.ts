/**
 * The write side of the memory graph projection (migrations/0003): the append hook that
 * folds memory events into `memories` / `memory_connections` inside the append transaction,
 * the start-up catch-up, and `rebuildProjection` (delete and refold from the log). A
 * `run.reverted` retracts the run's earlier memory events (retractions.ts): its session is
 * refolded from the log without them, in the transaction that appends it.
 */
import { applyMemoryEvent, emptyGraph, type MemoryGraph } from './graph.js'
import { isRetracted, noteReverted, RUN_REVERTED, type Retractions } from './retractions.js'
import { lockLog } from '../store/queries/lockLog.js'
import { readOfTypes } from '../store/queries/readOfTypes.js'
import type { Actor, AppendHook, SqlDriver, SqlExecutor, StoredEvent } from '../store/types.js'

/** The event types the projection folds; everything else leaves it unchanged. */
export const PROJECTED_TYPES: readonly string[] = ['memory.formed', 'memory.connected', 'memory.strength_changed']
const projected = new Set(PROJECTED_TYPES)
/** What the projection reads: its events, and the reverts that retract some of them. */
const FOLDED_TYPES: readonly string[] = [...PROJECTED_TYPES, RUN_REVERTED]

/** Events read back for folding per query (catch-up and rebuild work in chunks of this). */
const CHUNK = 5000

/** What the fold needs of an event, whether handed to the hook or read from the log. */
interface FoldEvent {
  session: string
  position: number
  type: string
  data: Record<string, unknown>
  actor: Pick<Actor, 'id' | 'name' | 'kind' | 'run'>
  recordedAt: string
}

interface Delta {
  graph: MemoryGraph
  /** Position of the first `memory.formed` of each memory in this delta. */
  formedAt: Map<string, number>
}

/**
 * Folds events (in log order) into one graph per session: what changed, with the fold
 * rules of `graph.ts`. Writing such a delta with "last write wins" upserts gives the same
 * tables as folding the whole log, because every memory event sets absolute values; and
 * `formed_*` keep the values of the lowest position whatever order deltas arrive in.
 */
function foldBySession(events: Iterable<FoldEvent>, retractions?: Retractions): Map<string, Delta> {
  const deltas = new Map<string, Delta>()
  for (const event of events) {
    if (!projected.has(event.type) || (retractions && isRetracted(retractions, event))) continue
    let delta = deltas.get(event.session)
    if (!delta) deltas.set(event.session, (delta = { graph: emptyGraph(), formedAt: new Map() }))
    applyMemoryEvent(delta.graph, event)
    const id = event.data.memoryId
    if (event.type === 'memory.formed' && typeof id === 'string' && delta.graph.memories.has(id) && !delta.formedAt.has(id)) {
      delta.formedAt.set(id, event.position)
    }
  }
  return deltas
}

/**
 * Upserts a fold's result and moves the checkpoint (when given), in one statement (one round
 * trip inside the append transaction, which holds the log's lock). Returns the checkpoint as
 * it was.
 */
async function writeDeltas(tx: SqlExecutor, deltas: Map<string, Delta>, checkpoint?: number): Promise<number> {
  const memories: unknown[] = []
  const connections: unknown[] = []
  for (const [session, { graph, formedAt }] of deltas) {
    for (const m of graph.memories.values()) {
      memories.push({
        session_id: session, memory_id: m.id, content: m.content, kind: m.kind ?? null, importance: m.importance,
        tags: m.tags, formed_at: m.formedAt, formed_by: m.formedBy, formed_position: formedAt.get(m.id),
      })
    }
    for (const c of graph.links.values()) connections.push({ session_id: session, a: c.a, b: c.b, strength: c.strength })
  }
  const [row] = await tx.query<{ checkpoint: string | number }>(
    `WITH before AS (SELECT position FROM memory_projection),
     m AS (
       INSERT INTO memories AS t (session_id, memory_id, content, kind, importance, tags, formed_at, formed_by, formed_position)
       SELECT session_id, memory_id, content, kind, importance, tags, formed_at, formed_by, formed_position
       FROM jsonb_to_recordset($1::text::jsonb) AS x(session_id text, memory_id text, content text, kind text,
         importance double precision, tags text[], formed_at timestamptz, formed_by jsonb, formed_position bigint)
       ON CONFLICT (session_id, memory_id) DO UPDATE
         SET content = excluded.content, kind = excluded.kind, importance = excluded.importance, tags = excluded.tags,
             formed_at = CASE WHEN excluded.formed_position < t.formed_position THEN excluded.formed_at ELSE t.formed_at END,
             formed_by = CASE WHEN excluded.formed_position < t.formed_position THEN excluded.formed_by ELSE t.formed_by END,
             formed_position = LEAST(excluded.formed_position, t.formed_position)
     ), c AS (
       INSERT INTO memory_connections (session_id, a, b, strength)
       SELECT session_id, a, b, strength
       FROM jsonb_to_recordset($2::text::jsonb) AS x(session_id text, a text, b text, strength double precision)
       ON CONFLICT (session_id, a, b) DO UPDATE SET strength = excluded.strength
     ), moved AS (
       UPDATE memory_projection SET position = GREATEST(position, $3::bigint) WHERE $3::bigint IS NOT NULL
     )
     SELECT before.position AS checkpoint FROM before`,
    [JSON.stringify(memories), JSON.stringify(connections), checkpoint ?? null],
  )
  return Number(row.checkpoint)
}

/** Projected events and reverts with `after` < position < `before`, oldest first, at most `limit`. */
function readEvents(tx: SqlExecutor, after: number, before: number, limit: number): Promise<FoldEvent[]> {
  return readOfTypes(tx, { types: FOLDED_TYPES, after, before, limit })
}

/** The sessions some of `events` revert a run of. */
function revertedSessions(events: readonly FoldEvent[]): string[] {
  return [...new Set(events.filter((e) => e.type === RUN_REVERTED).map((e) => e.session))]
}

/** The reverts of `sessions` (of all, for none) before position `before`. */
async function readRetractions(tx: SqlExecutor, sessions: readonly string[] | undefined, before: number): Promise<Retractions> {
  const retractions: Retractions = new Map()
  for (let after = 0; ; ) {
    const chunk = await readOfTypes(tx, { types: [RUN_REVERTED], after, before, sessions, limit: CHUNK })
    for (const e of chunk) noteReverted(retractions, e)
    if (chunk.length < CHUNK) return retractions
    after = chunk.at(-1)!.position
  }
}

/**
 * Deletes the projection of `sessions` and folds their events before `before` again, without
 * the retracted ones. Called under the log's lock (an append's transaction, a rebuild's).
 */
async function refold(tx: SqlExecutor, sessions: readonly string[], before: number): Promise<number> {
  await tx.query('DELETE FROM memories WHERE session_id = ANY($1::text[])', [sessions])
  await tx.query('DELETE FROM memory_connections WHERE session_id = ANY($1::text[])', [sessions])
  const retractions = await readRetractions(tx, sessions, before)
  let events = 0
  for (let after = 0; ; ) {
    const chunk = await readOfTypes(tx, { types: PROJECTED_TYPES, after, before, sessions, limit: CHUNK })
    await writeDeltas(tx, foldBySession(chunk, retractions))
    events += chunk.length
    if (chunk.length < CHUNK) return events
    after = chunk.at(-1)!.position
  }
}

/**
 * The append hook. It runs after the batch's events are inserted, in the same transaction
 * and under the log's lock, so no other append can commit meanwhile; it costs one statement,
 * and a second (an indexed read that finds nothing) when events of other types were appended
 * since the checkpoint. Projected events that some writer left unfolded (an older mnemo during a
 * rolling upgrade) are then folded too, with this batch again on top of them: the
 * projection never skips an event of the log.
 */
export function createProjectionHook(): AppendHook {
  // Batches without memory events skip the hook and are written in one round trip.
  return Object.assign(projectMemoryEvents, { types: FOLDED_TYPES })
  async function projectMemoryEvents(tx: SqlExecutor, events: StoredEvent[]): Promise<void> {
    const mine = events.filter((e) => projected.has(e.type) || e.type === RUN_REVERTED)
    if (mine.length === 0) return
    const first = mine[0].position
    const last = events.at(-1)!.position
    const checkpoint = await writeDeltas(tx, foldBySession(mine), last)
    const reverted = new Set(revertedSessions(mine))
    if (checkpoint < first - 1) {
      for (let after = checkpoint; ; ) {
        const missed = await readEvents(tx, after, first, CHUNK)
        if (missed.length === 0 && after === checkpoint) break
        for (const session of revertedSessions(missed)) reverted.add(session)
        if (missed.length < CHUNK) {
          await writeDeltas(tx, foldBySession([...missed, ...mine]))
          break
        }
        await writeDeltas(tx, foldBySession(missed))
        after = missed.at(-1)!.position
      }
    }
    if (reverted.size > 0) await refold(tx, [...reverted], last + 1)
  }
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
      const [{ position }] = await tx.query<{ position: string | number }>('SELECT position FROM memory_projection')
      const chunk = await readEvents(tx, Number(position), head + 1, CHUNK)
      if (chunk.length > 0) await writeDeltas(tx, foldBySession(chunk), chunk.at(-1)!.position)
      const reverted = revertedSessions(chunk)
      if (reverted.length > 0) await refold(tx, reverted, chunk.at(-1)!.position + 1)
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
 * transaction that holds the log's lock: appends wait until it commits, readers see
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
    const retractions = await readRetractions(tx, only ?? undefined, head + 1)
    let events = 0
    for (let after = 0; ; ) {
      const chunk = await readOfTypes(tx, { types: PROJECTED_TYPES, after, before: head + 1, sessions: only ?? undefined, limit: CHUNK })
      for (const e of chunk) seen.add(e.session)
      await writeDeltas(tx, foldBySession(chunk, retractions))
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
