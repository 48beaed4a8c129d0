/** The inspector's timeline lines for document changes, rich text included. */
import { describe, expect, it } from 'vitest'
import type { Envelope } from '../web/src/api.js'
import { describeChange, describeEvent } from '../web/src/describe.js'
import { graphJsonOf } from '../web/src/graphAt.js'

describe('the inspector\'s change lines', () => {
  it('names entries, their fields and votes, and rich-text fields', () => {
    expect(describeChange({ path: 'decisions', op: 'update', key: 'd1', fields: ['votes'], votes: [{ key: 'ada', op: 'add' }] })).toBe('updated decision d1 (votes: ada)')
    expect(describeChange({ path: 'annotations', op: 'update', key: 'a1', fields: ['text'] })).toBe('edited annotation a1 (text)')
    expect(describeChange({ path: 'richText', op: 'update', key: 'default' })).toBe('edited the rich text default')
  })
})

describe('the inspector\'s graph at a past position', () => {
  const event = (position: number, type: string, data: Record<string, unknown>, run?: string): Envelope => ({
    id: `e${position}`, session: 's', position, version: position, type, data,
    actor: { id: 'nav', name: 'Navigator', kind: 'agent', ...(run ? { run } : {}) },
    meta: { causationId: null, correlationId: null }, recordedAt: new Date(position * 1000).toISOString(), hash: '', prevHash: '',
  })
  const events = [
    event(1, 'memory.formed', { memoryId: 'm1', content: 'kept' }),
    event(2, 'memory.formed', { memoryId: 'm2', content: 'the run\'s' }, 'r-1'),
    event(3, 'memory.connected', { from: 'm1', to: 'm2', strength: 0.5 }, 'r-1'),
    event(4, 'run.reverted', { run: 'r-1' }),
    event(5, 'memory.formed', { memoryId: 'm3', content: 'after the revert' }, 'r-1'),
  ]
  const ids = (at: number) => graphJsonOf(events, at).memories.map((m) => m.id)

  it('shows a reverted run\'s memories before its revert, and not from the revert on', () => {
    expect(ids(3)).toEqual(['m1', 'm2'])
    expect(graphJsonOf(events, 3).connections).toHaveLength(1)
    expect(ids(4)).toEqual(['m1'])
    expect(graphJsonOf(events, 4).connections).toEqual([])
    // What the run records after its revert counts again (a run is reverted once).
    expect(ids(5)).toEqual(['m1', 'm3'])
    expect(describeEvent(events[3]!)).toBe('Navigator: reverted run r-1 (its memory events retracted)')
  })
})
