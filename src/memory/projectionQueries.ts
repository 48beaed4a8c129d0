/**
 * The read side of the memory graph projection: the whole graph as the API shows it, the
 * slim graph cascades walk, current strengths of given pairs, and memory contents by id.
 */
import type { CascadeGraph } from './cascade.js'
import { linkKey, type Memory } from './graph.js'
import type { Actor, SqlExecutor } from '../store/types.js'

export interface GraphJson {
  memories: Memory[]
  connections: { from: string; to: string; strength: number }[]
}

interface MemoryRow {
  memory_id: string
  content: string
  kind: string | null
  importance: number
  tags: string[]
  formed_at: Date | string
  formed_by: Pick<Actor, 'id' | 'name' | 'kind'>
}

// Code-unit order, as graphToJson sorts: the same in every database collation and locale.
const byId = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0)

/** The session's graph in the shape of `graphToJson`, so it can be compared with a fold of the log. */
export async function readGraphJson(db: SqlExecutor, session: string): Promise<GraphJson> {
  const [memoryRows, connectionRows] = await Promise.all([
    db.query<MemoryRow>(
      // tags as JSON: both drivers parse it to an array (the postgres driver fetches no array types).
      'SELECT memory_id, content, kind, importance, to_jsonb(tags) AS tags, formed_at, formed_by FROM memories WHERE session_id = $1',
      [session],
    ),
    db.query<{ a: string; b: string; strength: number }>(
      'SELECT a, b, strength FROM memory_connections WHERE session_id = $1',
      [session],
    ),
  ])
  const memories = memoryRows
    .map((r): Memory => ({
      id: r.memory_id,
      content: r.content,
      ...(r.kind !== null ? { kind: r.kind } : {}),
      importance: Number(r.importance),
      tags: r.tags,
      formedAt: new Date(r.formed_at).toISOString(),
      formedBy: { id: r.formed_by.id, name: r.formed_by.name, kind: r.formed_by.kind },
    }))
    .sort((x, y) => byId(x.id, y.id))
  const connections = connectionRows
    .sort((x, y) => byId(x.a, y.a) || byId(x.b, y.b))
    .map((c) => ({ from: c.a, to: c.b, strength: Number(c.strength) }))
  return { memories, connections }
}

/** A graph cascades can walk: importances and a symmetric adjacency index, nothing else. */
export interface SlimGraph extends CascadeGraph {
  memories: Map<string, { importance: number }>
  adjacency: Map<string, Map<string, number>>
}

export function emptySlimGraph(): SlimGraph {
  return { memories: new Map(), adjacency: new Map() }
}

/** Sets the a–b strength in both directions. */
export function linkSlim(graph: SlimGraph, a: string, b: string, strength: number): void {
  let out = graph.adjacency.get(a)
  if (!out) graph.adjacency.set(a, (out = new Map()))
  out.set(b, strength)
  let back = graph.adjacency.get(b)
  if (!back) graph.adjacency.set(b, (back = new Map()))
  back.set(a, strength)
}

/** The session's cascade graph from the projection tables. */
export async function loadSlimGraph(db: SqlExecutor, session: string): Promise<SlimGraph> {
  const [memoryRows, connectionRows] = await Promise.all([
    db.query<{ memory_id: string; importance: number }>('SELECT memory_id, importance FROM memories WHERE session_id = $1', [session]),
    db.query<{ a: string; b: string; strength: number }>('SELECT a, b, strength FROM memory_connections WHERE session_id = $1', [session]),
  ])
  const graph = emptySlimGraph()
  for (const r of memoryRows) graph.memories.set(r.memory_id, { importance: Number(r.importance) })
  for (const c of connectionRows) linkSlim(graph, c.a, c.b, Number(c.strength))
  return graph
}

/** Current strengths of the given pairs (either order), by `linkKey`; absent pairs are left out. */
export async function readStrengths(
  db: SqlExecutor, session: string, pairs: readonly (readonly [string, string])[],
): Promise<Map<string, number>> {
  const found = new Map<string, number>()
  if (pairs.length === 0) return found
  const as: string[] = []
  const bs: string[] = []
  for (const [x, y] of pairs) {
    as.push(x < y ? x : y)
    bs.push(x < y ? y : x)
  }
  const rows = await db.query<{ a: string; b: string; strength: number }>(
    `SELECT c.a, c.b, c.strength FROM memory_connections c
     JOIN unnest($2::text[], $3::text[]) AS p(a, b) ON c.a = p.a AND c.b = p.b
     WHERE c.session_id = $1`,
    [session, as, bs],
  )
  for (const r of rows) found.set(linkKey(r.a, r.b), Number(r.strength))
  return found
}

/** Contents of the given memories (those that exist). */
export async function readContents(db: SqlExecutor, session: string, ids: readonly string[]): Promise<Map<string, { content: string }>> {
  if (ids.length === 0) return new Map()
  const rows = await db.query<{ memory_id: string; content: string }>(
    'SELECT memory_id, content FROM memories WHERE session_id = $1 AND memory_id = ANY($2::text[])',
    [session, [...new Set(ids)]],
  )
  return new Map(rows.map((r) => [r.memory_id, { content: r.content }]))
}
