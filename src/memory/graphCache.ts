/**
 * Per-session cascade graphs kept in memory, so that a cascade on a large graph does not
 * reload 50,000 connections. Each use first asks the log what changed since the cached
 * position (one indexed query) and folds that in, so appends by other instances, and
 * appends whose transaction rolled back, can never leave a stale or phantom graph behind.
 * A use that names a position this instance has seen committed (an automatic cascade: its
 * trigger's) takes what changed from the store's memory of the log instead, when it holds every
 * event up to there: only committed events are in it, and positions are never skipped.
 */
import { applyMemoryEvents, emptyGraph, type MemoryEventLike } from './graph.js'
import { PROJECTED_TYPES } from './projection.js'
import { RUN_REVERTED } from './retractions.js'
import { linkSlim, loadSlimGraph, type SlimGraph } from './projectionQueries.js'
import { lastPositionOfTypes } from '../store/queries/lastPositionOfTypes.js'
import { readOfTypes } from '../store/queries/readOfTypes.js'
import type { SqlExecutor, StoredEvent } from '../store/types.js'

/** A revert retracts events folded in already: the graph is then loaded again from the (refolded) projection. */
const FOLLOWED_TYPES: readonly string[] = [...PROJECTED_TYPES, RUN_REVERTED]

export interface GraphCacheOptions {
  /** Memories + connections kept over all sessions before the least recently used are dropped. */
  maxWeight?: number
  /** Sessions kept at most (empty graphs weigh nothing but still take an entry). */
  maxSessions?: number
  /** More new events than this since the cached position: reload from the projection instead. */
  maxDelta?: number
  /**
   * The log's newest events from this process's memory (`EventStore.recentThrough`): a catch-up
   * to a known position takes them from there instead of reading the log.
   */
  recent?: (after: number, through: number) => StoredEvent[] | undefined
}

type Followed = MemoryEventLike & { position: number }

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
  /** The highest position those asked for; undefined once one asked for everything (a read). */
  queuedThrough?: number
}

export interface GraphCache {
  /**
   * The session's graph, reflecting at least every projected event committed before the call;
   * with `through`, at least every one up to that position (which this process has seen
   * committed: its own append's), taken from memory when it holds them.
   */
  graphOf(session: string, through?: number): Promise<SlimGraph>
  /** Sessions and total weight held (metrics, tests). */
  stats(): { sessions: number; weight: number }
}

export function createGraphCache(db: SqlExecutor, options: GraphCacheOptions = {}): GraphCache {
  const { maxWeight = 2_000_000, maxSessions = 1000, maxDelta = 10_000, recent } = options
  const followed = new Set(FOLLOWED_TYPES)
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

  /** The session's followed events after `entry`, and the position through which they are all there. */
  async function newRows(session: string, entry: Entry, through: number | undefined): Promise<{ rows: Followed[]; coveredTo: number }> {
    // From memory when it holds every event through `through`: no read.
    const local = through === undefined ? undefined : recent?.(entry.position, through)
    if (local) {
      return { rows: local.filter((e) => e.session === session && followed.has(e.type)), coveredTo: local.at(-1)?.position ?? entry.position }
    }
    const rows = await readOfTypes(db, { types: FOLLOWED_TYPES, sessions: [session], after: entry.position, limit: maxDelta + 1 })
    return { rows, coveredTo: rows.at(-1)?.position ?? entry.position }
  }

  async function catchUp(session: string, entry: Entry, through: number | undefined): Promise<Entry> {
    if (through !== undefined && entry.position >= through) return entry
    const { rows, coveredTo } = await newRows(session, entry, through)
    if (rows.length > maxDelta || rows.some((r) => r.type === RUN_REVERTED)) return load(session)
    if (rows.length > 0) {
      const delta = applyMemoryEvents(emptyGraph(), rows)
      for (const m of delta.memories.values()) entry.graph.memories.set(m.id, { importance: m.importance })
      for (const c of delta.links.values()) linkSlim(entry.graph, c.a, c.b, c.strength)
      entry.weight += delta.memories.size + delta.links.size
    }
    entry.position = Math.max(entry.position, coveredTo)
    return entry
  }

  async function run(session: string, through: number | undefined): Promise<Entry> {
    const cached = entries.get(session)
    const before = cached?.weight ?? 0
    const entry = cached ? await catchUp(session, cached, through) : await load(session)
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
  function refresh(session: string, through: number | undefined): Promise<Entry> {
    let state = refreshing.get(session)
    if (!state) refreshing.set(session, (state = {}))
    const s = state
    if (!s.running) {
      s.running = run(session, through).finally(() => {
        s.running = undefined
        if (!s.queued) refreshing.delete(session)
      })
      return s.running
    }
    if (!s.queued) {
      s.queuedThrough = through
      s.queued = s.running.catch(() => undefined).then(() => {
        const wanted = s.queuedThrough
        s.queued = undefined
        return refresh(session, wanted)
      })
    } else if (s.queuedThrough !== undefined) {
      s.queuedThrough = through === undefined ? undefined : Math.max(s.queuedThrough, through)
    }
    return s.queued
  }

  return {
    async graphOf(session, through) {
      return (await refresh(session, through)).graph
    },
    stats() {
      return { sessions: entries.size, weight: totalWeight }
    },
  }
}
