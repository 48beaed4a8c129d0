/**
 * The memory graph as the scrubber shows it at a past position, folded in the page from the
 * events it has loaded (the server's graph is only the newest).
 */
import { applyMemoryEvents, emptyGraph } from '../../src/memory/graph.js'
import { isRetracted, noteReverted, RUN_REVERTED, type Retractions } from '../../src/memory/retractions.js'
import type { Envelope, GraphJson } from './api.js'

/** The memory graph as of `at`: the memory events up to it, less those a `run.reverted` up to it retracted. */
export function graphJsonOf(events: readonly Envelope[], at: number): GraphJson {
  const retractions: Retractions = new Map()
  for (const e of events) if (e.position <= at && e.type === RUN_REVERTED) noteReverted(retractions, e)
  const graph = applyMemoryEvents(emptyGraph(), events.filter((e) => e.position <= at && e.type.startsWith('memory.') && !isRetracted(retractions, e)))
  return {
    memories: [...graph.memories.values()].map((m) => ({ id: m.id, content: m.content, kind: m.kind, importance: m.importance, tags: m.tags })),
    connections: [...graph.links.values()].map((l) => ({ from: l.a, to: l.b, strength: l.strength })),
  }
}

