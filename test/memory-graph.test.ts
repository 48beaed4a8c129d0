import { describe, expect, it } from 'vitest'
import type { Actor } from '../src/store/types.js'
import {
  applyMemoryEvent,
  applyMemoryEvents,
  linkKey,
  emptyGraph,
  graphToJson,
  importanceOf,
  previousStrength,
  type MemoryEventLike,
} from '../src/memory/graph.js'

type Who = Pick<Actor, 'id' | 'name' | 'kind'>
const alice: Who = { id: 'alice', name: 'Alice', kind: 'human' }
const navigator: Who = { id: 'agent-7', name: 'Navigator', kind: 'agent' }

const formed = (memoryId: string, extra: Record<string, unknown> = {}, actor = alice, at = '2026-01-01T00:00:00.000Z'): MemoryEventLike => ({
  type: 'memory.formed',
  data: { memoryId, content: `about ${memoryId}`, importance: 0.5, ...extra },
  actor,
  recordedAt: at,
})
const connected = (from: string, to: string, strength: number): MemoryEventLike => ({ type: 'memory.connected', data: { from, to, strength } })
const changed = (from: string, to: string, strength: number): MemoryEventLike => ({ type: 'memory.strength_changed', data: { from, to, strength } })

describe('memory graph fold', () => {
  it('records memories with who formed them and when', () => {
    const graph = applyMemoryEvent(emptyGraph(), formed('m1', { kind: 'fact', importance: 0.9, tags: ['a', 'b'] }, navigator))
    expect(graph.memories.get('m1')).toEqual({
      id: 'm1',
      content: 'about m1',
      kind: 'fact',
      importance: 0.9,
      tags: ['a', 'b'],
      formedAt: '2026-01-01T00:00:00.000Z',
      formedBy: navigator,
    })
  })

  it('defaults importance to 0.5 and tags to none', () => {
    const graph = applyMemoryEvent(emptyGraph(), { type: 'memory.formed', data: { memoryId: 'm1', content: 'x' } })
    expect(graph.memories.get('m1')).toMatchObject({ importance: 0.5, tags: [] })
    expect(importanceOf(graph, 'm1')).toBe(0.5)
    expect(importanceOf(graph, 'nobody')).toBe(0.5)
  })

  it('creates edges from memory.formed connections, in both directions', () => {
    const graph = applyMemoryEvents(emptyGraph(), [formed('m1'), formed('m2', { connections: [{ to: 'm1', strength: 0.7 }] })])
    expect(graph.adjacency.get('m1')?.get('m2')).toBe(0.7)
    expect(graph.adjacency.get('m2')?.get('m1')).toBe(0.7)
    expect(graphToJson(graph).connections).toEqual([{ from: 'm1', to: 'm2', strength: 0.7 }])
  })

  it('treats connections as undirected: m2→m1 changes the m1–m2 edge', () => {
    const graph = applyMemoryEvents(emptyGraph(), [formed('m1'), formed('m2'), connected('m1', 'm2', 0.3)])
    expect(previousStrength(graph, 'm2', 'm1')).toBe(0.3)
    applyMemoryEvent(graph, changed('m2', 'm1', 0.8))
    expect(graph.links.size).toBe(1)
    expect(graph.links.get(linkKey('m1', 'm2'))).toEqual({ a: 'm1', b: 'm2', strength: 0.8 })
    expect(previousStrength(graph, 'm1', 'm2')).toBe(0.8)
    expect(graph.adjacency.get('m1')?.get('m2')).toBe(0.8)
    expect(graph.adjacency.get('m2')?.get('m1')).toBe(0.8)
  })

  it('reports null as the previous strength of a pair never connected, and a change creates it', () => {
    const graph = applyMemoryEvents(emptyGraph(), [formed('m1'), formed('m2')])
    expect(previousStrength(graph, 'm1', 'm2')).toBeNull()
    applyMemoryEvent(graph, changed('m1', 'm2', 0.4))
    expect(previousStrength(graph, 'm1', 'm2')).toBe(0.4)
  })

  it('keeps a zero-strength connection as a connection', () => {
    const graph = applyMemoryEvents(emptyGraph(), [connected('a', 'b', 0.6), changed('a', 'b', 0)])
    expect(previousStrength(graph, 'b', 'a')).toBe(0)
  })

  it('allows edges to memories not formed yet (concurrent writers)', () => {
    const graph = applyMemoryEvents(emptyGraph(), [connected('m1', 'm9', 0.5)])
    expect(graph.memories.size).toBe(0)
    expect(graph.adjacency.get('m9')?.get('m1')).toBe(0.5)
  })

  it('re-forming a memory refreshes it but keeps its first formation', () => {
    const graph = applyMemoryEvents(emptyGraph(), [
      formed('m1', { importance: 0.2 }, alice, '2026-01-01T00:00:00.000Z'),
      formed('m1', { importance: 0.9, content: 'revised' }, navigator, '2026-01-02T00:00:00.000Z'),
    ])
    expect(graph.memories.get('m1')).toMatchObject({
      content: 'revised',
      importance: 0.9,
      formedAt: '2026-01-01T00:00:00.000Z',
      formedBy: alice,
    })
  })

  it('ignores other types and malformed memory events instead of stopping a replay', () => {
    const graph = applyMemoryEvents(emptyGraph(), [
      { type: 'doc.update', data: { update: 'AA==' } },
      { type: 'memory.formed', data: { content: 'no id' } },
      { type: 'memory.connected', data: { from: 'a', to: 'b' } },
      { type: 'memory.connected', data: { from: 'a', to: 'a', strength: 1 } },
      { type: 'memory.cascade', data: { source: 'a', affected: [] } },
    ])
    expect(graph.memories.size).toBe(0)
    expect(graph.links.size).toBe(0)
  })

  it('keeps connection keys unambiguous for ids with odd characters', () => {
    expect(linkKey('a|b', 'c')).not.toBe(linkKey('a', 'b|c'))
    expect(linkKey('x', 'y')).toBe(linkKey('y', 'x'))
  })

  it('lists the graph sorted for the HTTP projection', () => {
    const graph = applyMemoryEvents(emptyGraph(), [formed('m2'), formed('m1'), connected('m2', 'm1', 0.5), connected('m3', 'm1', 0.2)])
    const json = graphToJson(graph)
    expect(json.memories.map((m) => m.id)).toEqual(['m1', 'm2'])
    expect(json.connections).toEqual([
      { from: 'm1', to: 'm2', strength: 0.5 },
      { from: 'm1', to: 'm3', strength: 0.2 },
    ])
  })

  it('works as a reducer', () => {
    const events = [formed('m1'), formed('m2'), connected('m1', 'm2', 0.5)]
    const graph = events.reduce(applyMemoryEvent, emptyGraph())
    expect(graph.links.size).toBe(1)
  })
})
