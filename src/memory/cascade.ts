/**
 * Spreading activation over the memory graph (the SPEC's cascade), and the rule for which
 * events start one automatically. Pure: the caller records the result as `memory.cascade`.
 */
import { importanceOf } from './graph.js'
import type { MemoryEventLike } from './graph.js'

/** What a cascade reads: any graph with importances and a symmetric adjacency index. */
export interface CascadeGraph {
  memories: ReadonlyMap<string, { importance: number }>
  adjacency: ReadonlyMap<string, ReadonlyMap<string, number>>
}

export interface CascadeOptions {
  source: string
  /** activation(source); default: the source's importance (0.5 if it has none). */
  strength?: number
  /** Factor per hop, 0 < decay ≤ 1. */
  decay?: number
  /** Activations below this are not reached, 0 ≤ min < 1. */
  min?: number
  /** Deepest hop reached (the source is depth 0). */
  maxDepth?: number
}

export interface AffectedMemory {
  memoryId: string
  activation: number
  depth: number
}

export interface CascadeResult {
  cascadeStrength: number
  affected: AffectedMemory[]
}

export const CASCADE_DEFAULTS = { decay: 0.5, min: 0.05, maxDepth: 4, threshold: 0.5 } as const

/**
 * A binary max-heap of labels (memory, activation, depth) in parallel arrays, ordered by
 * activation descending, then depth ascending, then id: the order labels are settled in.
 * Sifting moves a hole instead of swapping, which keeps a cascade over the whole graph fast.
 */
function labelHeap() {
  const ids: string[] = []
  const acts: number[] = []
  const deps: number[] = []
  /** Whether (id, a, d) goes above the label at index j. */
  const above = (id: string, a: number, d: number, j: number) =>
    a > acts[j] || (a === acts[j] && (d < deps[j] || (d === deps[j] && id < ids[j])))

  function push(id: string, a: number, d: number): void {
    let i = ids.length
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!above(id, a, d, parent)) break
      ids[i] = ids[parent]
      acts[i] = acts[parent]
      deps[i] = deps[parent]
      i = parent
    }
    ids[i] = id
    acts[i] = a
    deps[i] = d
  }

  /** Removes the top label into `out`; false when empty. */
  function pop(out: AffectedMemory): boolean {
    const n = ids.length - 1
    if (n < 0) return false
    out.memoryId = ids[0]
    out.activation = acts[0]
    out.depth = deps[0]
    const id = ids.pop()!
    const a = acts.pop()!
    const d = deps.pop()!
    if (n === 0) return true
    let i = 0
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && above(ids[child + 1], acts[child + 1], deps[child + 1], child)) child++
      if (above(id, a, d, child)) break
      ids[i] = ids[child]
      acts[i] = acts[child]
      deps[i] = deps[child]
      i = child
    }
    ids[i] = id
    acts[i] = a
    deps[i] = d
    return true
  }
  return { push, pop }
}

function checkOptions(strength: number, decay: number, min: number, maxDepth: number): void {
  if (!(strength >= 0 && strength <= 1)) throw new RangeError(`cascade strength must be within 0..1 (got ${strength})`)
  if (!(decay > 0 && decay <= 1)) throw new RangeError(`cascade decay must be greater than 0 and at most 1 (got ${decay})`)
  if (!(min >= 0 && min < 1)) throw new RangeError(`cascade min must be at least 0 and less than 1 (got ${min})`)
  if (!Number.isInteger(maxDepth) || maxDepth < 0) {
    throw new RangeError(`cascade maxDepth must be an integer ≥ 0 (got ${maxDepth})`)
  }
}

/**
 * Runs a cascade exactly as the SPEC defines it.
 *
 * Best-first over labels (memory, activation, depth): activation never grows along a path
 * (strengths and decay are ≤ 1), so the first label settled for a memory carries its
 * highest activation. The depth limit means that is not enough: a memory whose best path
 * is deep may still need to propagate along a weaker but shallower path that leaves hops
 * to spare. So a memory is expanded again whenever a later (weaker) label reaches it at a
 * strictly smaller depth than any earlier one; a label no shallower than one already
 * expanded is dominated and dropped. With depth ≤ maxDepth that is at most maxDepth + 1
 * expansions per memory.
 *
 * Reported per memory: its highest activation, and when several paths give exactly that
 * activation, the shallowest of their depths. An activation of 0 never reaches anything
 * (even with min = 0). Strengths outside 0..1 in a hand-built graph are clamped.
 * `affected` excludes the source and is sorted by activation descending, then memoryId
 * ascending (code-unit order, the same in every locale).
 *
 * @example
 * runCascade(graph, { source: 'm1', decay: 0.5 })
 * // { cascadeStrength: 0.8, affected: [{ memoryId: 'm2', activation: 0.36, depth: 1 }, …] }
 */
export function runCascade(graph: CascadeGraph, options: CascadeOptions): CascadeResult {
  const { source, decay = CASCADE_DEFAULTS.decay, min = CASCADE_DEFAULTS.min, maxDepth = CASCADE_DEFAULTS.maxDepth } = options
  const cascadeStrength = options.strength ?? importanceOf(graph, source)
  checkOptions(cascadeStrength, decay, min, maxDepth)

  /** Per memory reached: its best label, and the smallest depth it has been expanded at. */
  const reached = new Map<string, { best: AffectedMemory; expandedAt: number }>()
  const heap = labelHeap()
  if (cascadeStrength > 0 && cascadeStrength >= min) heap.push(source, cascadeStrength, 0)

  const label: AffectedMemory = { memoryId: '', activation: 0, depth: 0 }
  let activation = 0
  let childDepth = 0
  // A named callback (not for…of over entries) spares an array per edge on large cascades.
  const relax = (strength: number, next: string) => {
    const a = activation * Math.min(1, Math.max(0, strength)) * decay
    if (!(a > 0) || a < min) return
    const known = reached.get(next)
    if (known === undefined || known.expandedAt > childDepth) heap.push(next, a, childDepth)
  }
  while (heap.pop(label)) {
    const { memoryId, depth } = label
    const known = reached.get(memoryId)
    if (known === undefined) {
      reached.set(memoryId, { best: { memoryId, activation: label.activation, depth }, expandedAt: depth })
    } else if (known.expandedAt > depth) {
      known.expandedAt = depth
    } else {
      continue
    }
    if (depth >= maxDepth) continue
    activation = label.activation
    childDepth = depth + 1
    graph.adjacency.get(memoryId)?.forEach(relax)
  }

  reached.delete(source)
  const affected = Array.from(reached.values(), (r) => r.best).sort(
    (x, y) => y.activation - x.activation || (x.memoryId < y.memoryId ? -1 : x.memoryId > y.memoryId ? 1 : 0),
  )
  return { cascadeStrength, affected }
}

/** Whether a memory of this importance starts a cascade on its own (none counts as 0.5). */
export function shouldAutoCascade(importance: number | undefined, threshold: number = CASCADE_DEFAULTS.threshold): boolean {
  return (importance ?? 0.5) >= threshold
}

/**
 * The memory an event automatically cascades from, or undefined: a `memory.formed` from its
 * own memory, a `memory.connected` / `memory.strength_changed` from its `from` memory, when
 * that memory's importance is at least `threshold`. Call it after folding the event into
 * `graph`, so the cascade sees the new connection.
 */
export function autoCascadeSource(
  graph: Pick<CascadeGraph, 'memories'>,
  event: Pick<MemoryEventLike, 'type' | 'data'>,
  threshold: number = CASCADE_DEFAULTS.threshold,
): string | undefined {
  const d = event.data
  switch (event.type) {
    case 'memory.formed': {
      if (typeof d.memoryId !== 'string') return undefined
      const importance = typeof d.importance === 'number' ? d.importance : undefined
      return shouldAutoCascade(importance, threshold) ? d.memoryId : undefined
    }
    case 'memory.connected':
    case 'memory.strength_changed':
      if (typeof d.from !== 'string') return undefined
      return shouldAutoCascade(importanceOf(graph, d.from), threshold) ? d.from : undefined
    default:
      return undefined
  }
}

/** The data of the `memory.cascade` event recording `result` (trigger null: requested over HTTP). */
export function cascadeEventData(source: string, trigger: string | null, result: CascadeResult) {
  return { source, trigger, cascadeStrength: result.cascadeStrength, affected: result.affected }
}
