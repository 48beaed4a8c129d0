import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { autoCascadeSource, cascadeEventData, runCascade, shouldAutoCascade, type CascadeResult } from '../src/memory/cascade.js'
import { applyMemoryEvents, emptyGraph, putMemory, setLink, type MemoryGraph } from '../src/memory/graph.js'
import { memoryCascadeSchema } from '../src/memory/schemas.js'

const actor = { id: 'alice', name: 'Alice', kind: 'human' as const }

/** A graph from `[a, b, strength]` edges and optional importances. */
function graphOf(edges: [string, string, number][], importance: Record<string, number> = {}): MemoryGraph {
  const graph = emptyGraph()
  for (const [id, value] of Object.entries(importance)) {
    putMemory(graph, { id, content: id, importance: value, tags: [], formedAt: '', formedBy: actor })
  }
  for (const [a, b, strength] of edges) setLink(graph, a, b, strength)
  return graph
}

/** Affected memories as `[id, activation rounded, depth]` for readable expectations. */
const rows = (result: CascadeResult) => result.affected.map((a) => [a.memoryId, Math.round(a.activation * 1e9) / 1e9, a.depth])

describe('runCascade, hand-computed', () => {
  it('follows a chain until activation falls below min', () => {
    const graph = graphOf(
      [
        ['a', 'b', 0.8],
        ['b', 'c', 0.5],
        ['c', 'd', 1],
      ],
      { a: 0.8 },
    )
    // a 0.8 → b 0.8·0.8·0.5 = 0.32 → c 0.32·0.5·0.5 = 0.08 → d 0.04 < 0.05: not reached.
    const result = runCascade(graph, { source: 'a' })
    expect(result.cascadeStrength).toBe(0.8)
    expect(rows(result)).toEqual([
      ['b', 0.32, 1],
      ['c', 0.08, 2],
    ])
  })

  it('does not count the source again around a cycle, and sorts ties by id', () => {
    const graph = graphOf([
      ['s', 'c', 1],
      ['c', 'b', 1],
      ['b', 's', 1],
    ])
    expect(rows(runCascade(graph, { source: 's', strength: 1 }))).toEqual([
      ['b', 0.5, 1],
      ['c', 0.5, 1],
    ])
  })

  it('keeps the higher activation of a diamond, with that path\'s depth', () => {
    const graph = graphOf([
      ['s', 'x', 0.2],
      ['s', 'y', 1],
      ['y', 'x', 1],
    ])
    // x directly: 1·0.2·0.5 = 0.1 at depth 1; through y: 0.5·1·0.5 = 0.25 at depth 2.
    expect(rows(runCascade(graph, { source: 's', strength: 1 }))).toEqual([
      ['y', 0.5, 1],
      ['x', 0.25, 2],
    ])
  })

  it('reports the shallower depth when two paths give exactly the same activation', () => {
    const graph = graphOf([
      ['s', 'x', 0.25],
      ['s', 'a', 0.5],
      ['a', 'x', 1],
    ])
    // x: 1·0.25·0.5 = 0.125 at depth 1, and 0.25·1·0.5 = 0.125 at depth 2.
    expect(rows(runCascade(graph, { source: 's', strength: 1 }))).toEqual([
      ['a', 0.25, 1],
      ['x', 0.125, 1],
    ])
  })

  it('propagates along a weaker, shallower path when the best path leaves no hops', () => {
    // t's best path s-a-b-t is 3 hops; with maxDepth 3 only the weak direct edge s-t lets u be reached.
    const graph = graphOf([
      ['s', 'a', 1],
      ['a', 'b', 1],
      ['b', 't', 1],
      ['s', 't', 0.3],
      ['t', 'u', 1],
    ])
    expect(rows(runCascade(graph, { source: 's', strength: 1, decay: 1, min: 0, maxDepth: 3 }))).toEqual([
      ['a', 1, 1],
      ['b', 1, 2],
      ['t', 1, 3],
      ['u', 0.3, 2],
    ])
    // With one more hop allowed, u takes the strong path.
    expect(rows(runCascade(graph, { source: 's', strength: 1, decay: 1, min: 0, maxDepth: 4 })).at(-1)).toEqual(['u', 1, 4])
  })

  it('the same with decay: the deep path wins for t, the shallow one still carries u', () => {
    const graph = graphOf([
      ['s', 'a', 1],
      ['a', 'b', 1],
      ['b', 't', 1],
      ['s', 't', 0.2],
      ['t', 'u', 1],
    ])
    // t: 0.125 at depth 3 beats 0.1 at depth 1; u: only from t at depth 1 → 0.05 at depth 2.
    expect(rows(runCascade(graph, { source: 's', strength: 1, decay: 0.5, min: 0.01, maxDepth: 3 }))).toEqual([
      ['a', 0.5, 1],
      ['b', 0.25, 2],
      ['t', 0.125, 3],
      ['u', 0.05, 2],
    ])
  })

  it('reaches nothing beyond maxDepth', () => {
    const graph = graphOf([
      ['m0', 'm1', 1],
      ['m1', 'm2', 1],
      ['m2', 'm3', 1],
    ])
    expect(rows(runCascade(graph, { source: 'm0', strength: 1, decay: 1, maxDepth: 2 }))).toEqual([
      ['m1', 1, 1],
      ['m2', 1, 2],
    ])
    expect(runCascade(graph, { source: 'm0', strength: 1, maxDepth: 0 }).affected).toEqual([])
  })

  it('stops at min: a memory below it is not reached and carries nothing on', () => {
    const graph = graphOf([
      ['s', 'a', 0.1],
      ['a', 'b', 1],
    ])
    // a: 1·0.1·0.5 = 0.05 (reached at min exactly); b: 0.025 below min.
    expect(rows(runCascade(graph, { source: 's', strength: 1, min: 0.05 }))).toEqual([['a', 0.05, 1]])
    expect(runCascade(graph, { source: 's', strength: 1, min: 0.06 }).affected).toEqual([])
  })

  it('never reaches through a zero-strength connection, even with min 0', () => {
    const graph = graphOf([
      ['s', 'a', 0],
      ['s', 'b', 0.5],
    ])
    expect(rows(runCascade(graph, { source: 's', strength: 1, min: 0 }))).toEqual([['b', 0.25, 1]])
  })

  it('starts from the given strength, else the importance, else 0.5', () => {
    const graph = graphOf([['s', 'a', 1], ['u', 'a', 1]], { s: 0.8 })
    expect(runCascade(graph, { source: 's' }).cascadeStrength).toBe(0.8)
    expect(rows(runCascade(graph, { source: 's' }))).toEqual([['a', 0.4, 1], ['u', 0.2, 2]])
    expect(runCascade(graph, { source: 's', strength: 0.3 }).cascadeStrength).toBe(0.3)
    expect(rows(runCascade(graph, { source: 's', strength: 0.3 }))).toEqual([['a', 0.15, 1], ['u', 0.075, 2]])
    // u was never formed: it has no importance, so 0.5.
    expect(runCascade(graph, { source: 'u' }).cascadeStrength).toBe(0.5)
    expect(runCascade(emptyGraph(), { source: 'nowhere' })).toEqual({ cascadeStrength: 0.5, affected: [] })
  })

  it('a cascade of strength 0 reaches nothing', () => {
    expect(runCascade(graphOf([['s', 'a', 1]]), { source: 's', strength: 0, min: 0 })).toEqual({ cascadeStrength: 0, affected: [] })
  })

  it('refuses out-of-range options', () => {
    const graph = graphOf([['s', 'a', 1]])
    expect(() => runCascade(graph, { source: 's', strength: 1.5 })).toThrow(/strength/)
    expect(() => runCascade(graph, { source: 's', decay: 0 })).toThrow(/decay/)
    expect(() => runCascade(graph, { source: 's', min: 1 })).toThrow(/min/)
    expect(() => runCascade(graph, { source: 's', maxDepth: 1.5 })).toThrow(/maxDepth/)
  })

  it('its result is valid memory.cascade data', () => {
    const graph = graphOf([['s', 'a', 1]])
    const data = cascadeEventData('s', 'event-1', runCascade(graph, { source: 's' }))
    expect(memoryCascadeSchema.parse(data)).toEqual({ source: 's', trigger: 'event-1', cascadeStrength: 0.5, affected: [{ memoryId: 'a', activation: 0.25, depth: 1 }] })
  })
})

describe('automatic cascades', () => {
  const graph = applyMemoryEvents(emptyGraph(), [
    { type: 'memory.formed', data: { memoryId: 'big', content: 'x', importance: 0.9 } },
    { type: 'memory.formed', data: { memoryId: 'small', content: 'x', importance: 0.2 } },
  ])

  it('compares importance with the threshold, inclusively', () => {
    expect(shouldAutoCascade(0.5)).toBe(true)
    expect(shouldAutoCascade(0.49)).toBe(false)
    expect(shouldAutoCascade(undefined)).toBe(true)
    expect(shouldAutoCascade(0.7, 0.8)).toBe(false)
  })

  it('memory.formed cascades from itself when important enough', () => {
    expect(autoCascadeSource(graph, { type: 'memory.formed', data: { memoryId: 'n', content: 'x', importance: 0.5 } })).toBe('n')
    expect(autoCascadeSource(graph, { type: 'memory.formed', data: { memoryId: 'n', content: 'x', importance: 0.4 } })).toBeUndefined()
    expect(autoCascadeSource(graph, { type: 'memory.formed', data: { memoryId: 'n', content: 'x', importance: 0.9 } }, 0.95)).toBeUndefined()
  })

  it('connections and strength changes cascade from their `from` memory', () => {
    for (const type of ['memory.connected', 'memory.strength_changed']) {
      expect(autoCascadeSource(graph, { type, data: { from: 'big', to: 'small', strength: 1 } })).toBe('big')
      expect(autoCascadeSource(graph, { type, data: { from: 'small', to: 'big', strength: 1 } })).toBeUndefined()
      // Not formed yet: importance 0.5, as everywhere else.
      expect(autoCascadeSource(graph, { type, data: { from: 'ghost', to: 'big', strength: 1 } })).toBe('ghost')
      expect(autoCascadeSource(graph, { type, data: { from: 'ghost', to: 'big', strength: 1 } }, 0.6)).toBeUndefined()
    }
  })

  it('nothing else cascades', () => {
    expect(autoCascadeSource(graph, { type: 'memory.cascade', data: { source: 'big' } })).toBeUndefined()
    expect(autoCascadeSource(graph, { type: 'note.added', data: { memoryId: 'big' } })).toBeUndefined()
  })
})

/** The SPEC read literally: best activation per depth, layer by layer, then the best layer. */
function referenceCascade(graph: MemoryGraph, source: string, strength: number, decay: number, min: number, maxDepth: number) {
  const best = new Map<string, { activation: number; depth: number }>()
  let layer = new Map<string, number>(strength > 0 && strength >= min ? [[source, strength]] : [])
  for (let depth = 0; depth <= maxDepth && layer.size > 0; depth++) {
    for (const [id, activation] of layer) {
      const known = best.get(id)
      if (!known || activation > known.activation) best.set(id, { activation, depth })
    }
    const next = new Map<string, number>()
    if (depth < maxDepth) {
      for (const [id, activation] of layer) {
        for (const [to, w] of graph.adjacency.get(id) ?? []) {
          const a = activation * w * decay
          if (a > 0 && a >= min && a > (next.get(to) ?? 0)) next.set(to, a)
        }
      }
    }
    layer = next
  }
  best.delete(source)
  return [...best]
    .map(([memoryId, b]) => ({ memoryId, ...b }))
    .sort((x, y) => y.activation - x.activation || (x.memoryId < y.memoryId ? -1 : 1))
}

const arbitraryCase = fc
  .integer({ min: 1, max: 12 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      edges: fc.array(
        fc.tuple(fc.nat(n - 1), fc.nat(n - 1), fc.oneof(fc.constantFrom(0, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true }))),
        { maxLength: 30 },
      ),
      strength: fc.oneof(fc.constantFrom(0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })),
      decay: fc.oneof(fc.constantFrom(0.5, 1), fc.double({ min: 0.01, max: 1, noNaN: true })),
      min: fc.oneof(fc.constantFrom(0, 0.05), fc.double({ min: 0, max: 0.5, noNaN: true })),
      maxDepth: fc.integer({ min: 0, max: 6 }),
    }),
  )

describe('runCascade, properties', () => {
  /** One strength per pair (the first drawn), so that reversing the order changes only the order. */
  const build = (edges: [number, number, number][], reverse = false) => {
    const pairs = new Map<string, [string, string, number]>()
    for (const [a, b, w] of edges) if (!pairs.has(`${Math.min(a, b)}-${Math.max(a, b)}`)) pairs.set(`${Math.min(a, b)}-${Math.max(a, b)}`, [`m${a}`, `m${b}`, w])
    const list = [...pairs.values()]
    return graphOf(reverse ? list.reverse() : list)
  }

  it('equals the layer-by-layer reading of the SPEC, whatever the insertion order', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ edges, strength, decay, min, maxDepth }) => {
        const graph = build(edges)
        const result = runCascade(graph, { source: 'm0', strength, decay, min, maxDepth })
        expect(result.affected).toEqual(referenceCascade(graph, 'm0', strength, decay, min, maxDepth))
        expect(runCascade(build(edges, true), { source: 'm0', strength, decay, min, maxDepth })).toEqual(result)
      }),
      { numRuns: 500, seed: 20260101 },
    )
  })

  it('activations lie in (0, 1], at or above min, never above the source or every neighbour', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ edges, strength, decay, min, maxDepth }) => {
        const graph = build(edges)
        const { cascadeStrength, affected } = runCascade(graph, { source: 'm0', strength, decay, min, maxDepth })
        const activation = new Map([['m0', cascadeStrength], ...affected.map((a) => [a.memoryId, a.activation] as const)])
        expect(new Set(affected.map((a) => a.memoryId)).size).toBe(affected.length)
        expect(activation.has('m0') && !affected.some((a) => a.memoryId === 'm0')).toBe(true)
        for (const a of affected) {
          expect(a.activation).toBeGreaterThan(0)
          expect(a.activation).toBeLessThanOrEqual(1)
          expect(a.activation).toBeGreaterThanOrEqual(min)
          expect(a.activation).toBeLessThanOrEqual(cascadeStrength)
          // Some reached neighbour (the source included) passed this activation on.
          const carriers = [...(graph.adjacency.get(a.memoryId) ?? [])].map(([u, w]) => (activation.get(u) ?? 0) * w * decay)
          expect(Math.max(...carriers)).toBeGreaterThanOrEqual(a.activation)
        }
      }),
      { numRuns: 300, seed: 7 },
    )
  })

  it('every affected memory is reachable within maxDepth, no closer than its reported depth', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ edges, strength, decay, min, maxDepth }) => {
        const graph = build(edges)
        const hops = new Map([['m0', 0]])
        for (let frontier = ['m0']; frontier.length > 0; ) {
          const next: string[] = []
          for (const id of frontier) {
            for (const to of graph.adjacency.get(id)?.keys() ?? []) {
              if (!hops.has(to)) hops.set(to, hops.get(id)! + 1), next.push(to)
            }
          }
          frontier = next
        }
        for (const a of runCascade(graph, { source: 'm0', strength, decay, min, maxDepth }).affected) {
          expect(a.depth).toBeGreaterThanOrEqual(1)
          expect(a.depth).toBeLessThanOrEqual(maxDepth)
          expect(hops.get(a.memoryId)).toBeLessThanOrEqual(a.depth)
        }
      }),
      { numRuns: 300, seed: 11 },
    )
  })

  it('is deterministic', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ edges, strength, decay, min, maxDepth }) => {
        const options = { source: 'm0', strength, decay, min, maxDepth }
        expect(runCascade(build(edges), options)).toEqual(runCascade(build(edges), options))
      }),
      { numRuns: 100, seed: 3 },
    )
  })
})
