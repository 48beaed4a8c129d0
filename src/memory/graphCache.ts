/**
 * Per-session cascade graphs kept in memory, so that a cascade on a large graph does not
 * reload 50,000 connections. Each use first asks the log what changed since the cached
 * position (one indexed query) and folds that in, so appends by other instances, and
 * appends whose transaction rolled back, can never leave a stale or phantom graph behind.
 */
import { applyMemoryEvents, emptyGraph, type MemoryEventLike } from './graph.js'
import { PROJECTED_TYPES } from './projection.js'
import { RUN_REVERTED } from './retractions.js'
import { linkSlim, loadSlimGraph, type SlimGraph } from './projectionQueries.js'
import { lastPositionOfTypes } from '../store/queries/lastPositionOfTypes.js'
import { readOfTypes } from '../store/queries/readOfTypes.js'
import type { SqlExecutor } from '../store/types.js'

/** A revert retracts events folded in already: the graph is then loaded again from the (refolded) projection. */
const FOLLOWED_TYPES: readonly string[] = [...PROJECTED_TYPES, RUN_REVERTED]

export interface GraphCacheOptions {
  /** Memories + connections kept over all sessions before the least recently used are dropped. */
  maxWeight?: number
  /** Sessions kept at most (empty graphs weigh nothing but still take an entry). */
  maxSessions?: number
  /** More new events than this since the cached position: reload from the projection instead. */
  maxDelta?: number
}

interface Entry {
  graph: SlimGraph
  /** Every projected event of the session at or before this position is folded in. */
  position: number
  weight: number
}

interface Refreshing {
  running?: Promise<Entry>
  /** The one refresh that starts when `running` ends, shared by everyone who asked meanwhile. */
  queued?: Promise<Entry>
}

export interface GraphCache {
  /** The session's graph, reflecting at least every projected event committed before the call. */
  graphOf(session: string): Promise<SlimGraph>
  /** Sessions and total weight held (metrics, tests). */
  stats(): { sessions: number; weight: number }
}

export function createGraphCache(db: SqlExecutor, options: GraphCacheOptions = {}): GraphCache {
  const { maxWeight = 2_000_000, maxSessions = 1000, maxDelta = 10_000 } = options
  const entries = new Map<string, Entry>()
  const refreshing = new Map<string, Refreshing>()
  let totalWeight = 0

  async function load(session: string): Promise<Entry> {
    // Position first, tables second: the tables may then hold events past the position, and
    // folding those again later is harmless (each event sets absolute values, in log order).
    const position = await lastPositionOfTypes(db, session, FOLLOWED_TYPES)
    const graph = await loadSlimGraph(db, session)
    let edges = 0
    for (const neighbours of graph.adjacency.values()) edges += neighbours.size
    return { graph, position, weight: graph.memories.size + edges / 2 }
  }

  async function catchUp(session: string, entry: Entry): Promise<Entry> {
    const rows = await readOfTypes(db, { types: FOLLOWED_TYPES, sessions: [session], after: entry.position, limit: maxDelta + 1 })
    if (rows.length === 0) return entry
    if (rows.length > maxDelta || rows.some((r) => r.type === RUN_REVERTED)) return load(session)
    const delta = applyMemoryEvents(emptyGraph(), rows as MemoryEventLike[])
    for (const m of delta.memories.values()) entry.graph.memories.set(m.id, { importance: m.importance })
    for (const c of delta.links.values()) linkSlim(entry.graph, c.a, c.b, c.strength)
    entry.position = rows.at(-1)!.position
    entry.weight += delta.memories.size + delta.links.size
    return entry
  }

  async function run(session: string): Promise<Entry> {
    const cached = entries.get(session)
    const before = cached?.weight ?? 0
    const entry = cached ? await catchUp(session, cached) : await load(session)
    // Refreshes of one session never overlap, so the entry is still `cached` unless evicted meanwhile.
    if (entries.has(session)) totalWeight -= before
    totalWeight += entry.weight
    entries.delete(session)
    entries.set(session, entry) // most recently used last
    for (const [id, old] of entries) {
      if ((totalWeight <= maxWeight && entries.size <= maxSessions) || id === session) break
      entries.delete(id)
      totalWeight -= old.weight
    }
    return entry
  }

  /** Refreshes of one session never overlap, and a caller always gets one that started after its call. */
  function refresh(session: string): Promise<Entry> {
    let state = refreshing.get(session)
    if (!state) refreshing.set(session, (state = {}))
    const s = state
    if (!s.running) {
      s.running = run(session).finally(() => {
        s.running = undefined
        if (!s.queued) refreshing.delete(session)
      })
      return s.running
    }
    s.queued ??= s.running.catch(() => undefined).then(() => {
      s.queued = undefined
      return refresh(session)
    })
    return s.queued
  }

  return {
    async graphOf(session) {
      return (await refresh(session)).graph
    },
    stats() {
      return { sessions: entries.size, weight: totalWeight }
    },
  }
}
