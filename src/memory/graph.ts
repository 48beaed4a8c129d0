/**
 * The memory graph as a pure fold over memory events: memories and undirected, weighted
 * links (the SPEC's connections) with an adjacency index for cascades. The SQL projection
 * mirrors these rules.
 */
import type { Actor } from '../store/types.js'

export interface Memory {
  id: string
  content: string
  kind?: string
  importance: number
  tags: string[]
  /** When and by whom it was first formed; a later `memory.formed` for the id keeps these. */
  formedAt: string
  formedBy: Pick<Actor, 'id' | 'name' | 'kind'>
}

/**
 * An undirected, weighted edge between two memories (what `memory.connected` records); `a < b`
 * (code-unit order), so one pair has one key.
 */
export interface MemoryLink {
  a: string
  b: string
  strength: number
}

export interface MemoryGraph {
  memories: Map<string, Memory>
  /** By `linkKey(a, b)`. */
  links: Map<string, MemoryLink>
  /** memoryId → neighbour → strength, both directions: what cascades walk. */
  adjacency: Map<string, Map<string, number>>
}

/** The parts of an event envelope (or stored event) the fold needs. */
export interface MemoryEventLike {
  type: string
  data: Record<string, unknown>
  actor?: Pick<Actor, 'id' | 'name' | 'kind'>
  recordedAt?: string
}

const UNKNOWN_ACTOR = { id: 'unknown', name: 'unknown', kind: 'server' } as const
export const DEFAULT_IMPORTANCE = 0.5

export function emptyGraph(): MemoryGraph {
  return { memories: new Map(), links: new Map(), adjacency: new Map() }
}

/** The key of the a–b link, the same for b–a. */
export function linkKey(a: string, b: string): string {
  // JSON keeps the key unambiguous whatever characters the ids contain.
  return a < b ? JSON.stringify([a, b]) : JSON.stringify([b, a])
}

/** The strength of the a–b link (either order), or null when there is none. */
export function previousStrength(graph: MemoryGraph, from: string, to: string): number | null {
  return graph.adjacency.get(from)?.get(to) ?? null
}

/** A memory's importance, 0.5 for a memory the graph does not know (the SPEC's default). */
export function importanceOf(
  graph: { memories: ReadonlyMap<string, { importance: number }> },
  memoryId: string,
): number {
  return graph.memories.get(memoryId)?.importance ?? DEFAULT_IMPORTANCE
}

function link(adjacency: MemoryGraph['adjacency'], from: string, to: string, strength: number): void {
  let neighbours = adjacency.get(from)
  if (!neighbours) adjacency.set(from, (neighbours = new Map()))
  neighbours.set(to, strength)
}

/**
 * Creates or replaces the a–b link. Either end may not be formed yet: events from
 * concurrent writers can name a memory before its `memory.formed` lands.
 */
export function setLink(graph: MemoryGraph, a: string, b: string, strength: number): void {
  if (a === b) return
  const [lo, hi] = a < b ? [a, b] : [b, a]
  graph.links.set(linkKey(lo, hi), { a: lo, b: hi, strength })
  link(graph.adjacency, lo, hi, strength)
  link(graph.adjacency, hi, lo, strength)
}

/** Adds a memory, or refreshes one formed before (keeping its first `formedAt`/`formedBy`). */
export function putMemory(graph: MemoryGraph, memory: Memory): void {
  const earlier = graph.memories.get(memory.id)
  graph.memories.set(
    memory.id,
    earlier ? { ...memory, formedAt: earlier.formedAt, formedBy: earlier.formedBy } : memory,
  )
}

const str = (v: unknown): v is string => typeof v === 'string'
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/**
 * Folds one event into `graph` (mutating it) and returns the graph, so
 * `events.reduce(applyMemoryEvent, emptyGraph())` works. Events of other types, and
 * malformed ones (the log is trusted, but old events may predate today's schemas), are
 * skipped rather than thrown on: a replay must never stop halfway.
 */
export function applyMemoryEvent(graph: MemoryGraph, event: MemoryEventLike): MemoryGraph {
  const d = event.data
  switch (event.type) {
    case 'memory.formed': {
      if (!str(d.memoryId) || !str(d.content)) break
      const actor = event.actor ?? UNKNOWN_ACTOR
      putMemory(graph, {
        id: d.memoryId,
        content: d.content,
        ...(str(d.kind) ? { kind: d.kind } : {}),
        importance: num(d.importance) ? d.importance : DEFAULT_IMPORTANCE,
        tags: Array.isArray(d.tags) ? d.tags.filter(str) : [],
        formedAt: event.recordedAt ?? '',
        formedBy: { id: actor.id, name: actor.name, kind: actor.kind },
      })
      if (Array.isArray(d.connections)) {
        for (const c of d.connections as { to?: unknown; strength?: unknown }[]) {
          if (c && str(c.to) && num(c.strength)) setLink(graph, d.memoryId, c.to, c.strength)
        }
      }
      break
    }
    case 'memory.connected':
    case 'memory.strength_changed':
      // Both set the strength of the pair: a change to a pair never connected creates it.
      if (str(d.from) && str(d.to) && num(d.strength)) setLink(graph, d.from, d.to, d.strength)
      break
  }
  return graph
}

export function applyMemoryEvents(graph: MemoryGraph, events: Iterable<MemoryEventLike>): MemoryGraph {
  for (const event of events) applyMemoryEvent(graph, event)
  return graph
}

/** The graph as JSON (`GET …/memories`): memories by id, connections by (from, to). */
export function graphToJson(graph: MemoryGraph): {
  memories: Memory[]
  connections: { from: string; to: string; strength: number }[]
} {
  const byId = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0)
  return {
    memories: [...graph.memories.values()].sort((x, y) => byId(x.id, y.id)),
    connections: [...graph.links.values()]
      .sort((x, y) => byId(x.a, y.a) || byId(x.b, y.b))
      .map((c) => ({ from: c.a, to: c.b, strength: c.strength })),
  }
}
