/**
 * summarizeUpdate: the `changes` of a doc.update event, computed from an update before it
 * is applied, for real edits made with the write helpers on a second replica.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { summarizeUpdate } from '../src/session/summarizeUpdate.js'
import { annotate, annotationText, deselect, explore, resolveAnnotation, select } from '../src/session/write.js'
import { acceptDecision, propose, rejectDecision, vote } from '../src/session/decisions.js'
import { getAnnotations, getDecisions, getExplorationPath } from '../src/session/roots.js'
import { readState } from '../src/session/readState.js'
import type { Change, DocChange, SessionState } from '../src/session/schema.js'
import { validateUpdate } from '../src/protocol/updates.js'

function replica(of: Y.Doc, clientID: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = clientID
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(of))
  return doc
}

/**
 * The changes `edit` makes on a replica of `base`, summarized against `base`. Checks that
 * the diff update and the replica's own incremental updates agree, and `base` is untouched.
 */
function changesOf(base: Y.Doc, edit: (doc: Y.Doc) => void): DocChange[] {
  const doc = replica(base, 2)
  const incremental: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => incremental.push(u))
  edit(doc)
  const before = Y.encodeStateAsUpdate(base)
  const diff = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(base))
  const changes = summarizeUpdate(base, diff)
  if (incremental.length > 0) expect(summarizeUpdate(base, Y.mergeUpdates(incremental))).toEqual(changes)
  expect(Y.encodeStateAsUpdate(base)).toEqual(before)
  return changes
}

function baseDoc(): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = 1
  select(doc, 'm1', 'alice', 1)
  explore(doc, { memoryId: 'm1', by: 'alice', at: 1 })
  explore(doc, { memoryId: 'm2', by: 'alice', at: 2, note: 'why' })
  annotate(doc, { id: 'a1', target: 'm1', author: 'alice', text: 'hello', createdAt: 1 })
  propose(doc, { id: 'd1', question: 'which?', options: ['x', 'y'], quorum: 2, createdBy: 'alice' })
  return doc
}

const change = (path: Change['path'], op: Change['op'], key: string, more: Partial<Change> = {}): Change => ({ path, op, key, ...more })
const step = (op: Change['op'], key: string, id: string): Change => change('explorationPath', op, key, { step: id })

describe('summarizeUpdate', () => {
  it('selections: add, update, delete', () => {
    const base = baseDoc()
    expect(changesOf(base, d => select(d, 'm9', 'bob', 5))).toEqual([change('selections', 'add', 'm9')])
    expect(changesOf(base, d => select(d, 'm1', 'bob', 5))).toEqual([change('selections', 'update', 'm1')])
    expect(changesOf(base, d => deselect(d, 'm1'))).toEqual([change('selections', 'delete', 'm1')])
    expect(changesOf(base, d => deselect(d, 'nope'))).toEqual([])
  })

  it('explorationPath: add and delete, keyed by memoryId, one change per step (named by its Yjs id)', () => {
    const base = baseDoc() // client 1: the selection is clock 0, the steps m1 and m2 clocks 1 and 2
    expect(changesOf(base, d => explore(d, { memoryId: 'm3', by: 'bob', at: 3 }))).toEqual([step('add', 'm3', '2:0')])
    expect(changesOf(base, d => getExplorationPath(d).delete(0, 1))).toEqual([step('delete', 'm1', '1:1')])
    expect(changesOf(base, d => getExplorationPath(d).delete(0, 2))).toEqual([step('delete', 'm1', '1:1'), step('delete', 'm2', '1:2')])
    const pushed = changesOf(base, d => getExplorationPath(d).push([{ memoryId: 'm4', by: 'b', at: 1 }, { memoryId: 'm5', by: 'b', at: 1 }]))
    expect(pushed).toEqual([step('add', 'm4', '2:0'), step('add', 'm5', '2:1')])
    // Two steps of one memory share its key, not their step.
    const twice = changesOf(base, d => getExplorationPath(d).push([{ memoryId: 'm1', by: 'b', at: 1 }, { memoryId: 'm1', by: 'b', at: 2 }]))
    expect(twice).toEqual([step('add', 'm1', '2:0'), step('add', 'm1', '2:1')])
    // Not a step: keyed by its ID.
    const odd = changesOf(base, d => (d.getArray('explorationPath') as Y.Array<unknown>).push([42]))
    expect(odd).toEqual([step('add', '2:0', '2:0')])
  })

  it('annotations: add, nested text and field edits are updates, delete', () => {
    const base = baseDoc()
    expect(changesOf(base, d => annotate(d, { id: 'a2', target: 'm2', author: 'bob', text: 'hi' }))).toEqual([change('annotations', 'add', 'a2')])
    expect(changesOf(base, d => resolveAnnotation(d, 'a1'))).toEqual([change('annotations', 'update', 'a1', { fields: ['resolved'] })])
    expect(changesOf(base, d => annotationText(d, 'a1')!.insert(5, ' world'))).toEqual([change('annotations', 'update', 'a1', { fields: ['text'] })])
    expect(changesOf(base, d => annotationText(d, 'a1')!.delete(0, 2))).toEqual([change('annotations', 'update', 'a1', { fields: ['text'] })])
    expect(changesOf(base, d => {
      resolveAnnotation(d, 'a1')
      annotationText(d, 'a1')!.insert(0, '!')
    })).toEqual([change('annotations', 'update', 'a1', { fields: ['resolved', 'text'] })])
    expect(changesOf(base, d => getAnnotations(d).delete('a1'))).toEqual([change('annotations', 'delete', 'a1')])
    // Created and edited in one update: just an add.
    expect(changesOf(base, d => {
      annotate(d, { id: 'a3', target: 'm1', author: 'bob', text: 'x' })
      annotationText(d, 'a3')!.insert(1, 'yz')
      resolveAnnotation(d, 'a3')
    })).toEqual([change('annotations', 'add', 'a3')])
  })

  it('decisions: propose adds; votes, rejection and acceptance update; removal deletes', () => {
    const base = baseDoc()
    const votes = (...v: Array<[string, Change['op']]>) => ({ fields: ['votes'], votes: v.map(([key, op]) => ({ key, op })) })
    expect(changesOf(base, d => propose(d, { id: 'd2', question: 'q', options: ['a'], quorum: 1, createdBy: 'bob' })))
      .toEqual([change('decisions', 'add', 'd2')])
    expect(changesOf(base, d => vote(d, 'd1', 'bob', 'x'))).toEqual([change('decisions', 'update', 'd1', votes(['bob', 'add']))])
    expect(changesOf(base, d => rejectDecision(d, 'd1'))).toEqual([change('decisions', 'update', 'd1', { fields: ['status'] })])
    expect(changesOf(base, d => acceptDecision(d, 'd1', 'y'))).toEqual([change('decisions', 'update', 'd1', { fields: ['outcome', 'status'] })])
    expect(changesOf(base, d => getDecisions(d).delete('d1'))).toEqual([change('decisions', 'delete', 'd1')])
    vote(base, 'd1', 'bob', 'x')
    expect(changesOf(base, d => vote(d, 'd1', 'bob', 'y'))).toEqual([change('decisions', 'update', 'd1', votes(['bob', 'update']))])
    const votesOf = (d: Y.Doc) => (getDecisions(d).get('d1') as Y.Map<Y.Map<string>>).get('votes')!
    expect(changesOf(base, d => votesOf(d).delete('bob'))).toEqual([change('decisions', 'update', 'd1', votes(['bob', 'delete']))])
    // Cast twice in one update: one new vote; cast and taken back: none.
    expect(changesOf(base, d => { vote(d, 'd1', 'carol', 'y'); vote(d, 'd1', 'carol', 'x') }))
      .toEqual([change('decisions', 'update', 'd1', votes(['carol', 'add']))])
    expect(changesOf(base, d => { vote(d, 'd1', 'dave', 'y'); votesOf(d).delete('dave') }))
      .toEqual([change('decisions', 'update', 'd1', { fields: ['votes'] })])
    expect(changesOf(base, d => { vote(d, 'd1', 'carol', 'x'); vote(d, 'd1', 'bob', 'x') }))
      .toEqual([change('decisions', 'update', 'd1', votes(['bob', 'update'], ['carol', 'add']))])
  })

  it('ignores what never showed, unknown roots, and what the doc already has', () => {
    const base = baseDoc()
    expect(changesOf(base, d => { select(d, 'm7', 'b', 1); deselect(d, 'm7') })).toEqual([])
    expect(changesOf(base, d => { annotate(d, { id: 'a9', target: 'm', author: 'b', text: 't' }); getAnnotations(d).delete('a9') })).toEqual([])
    expect(changesOf(base, d => { explore(d, { memoryId: 'm8', by: 'b', at: 1 }); getExplorationPath(d).delete(2, 1) })).toEqual([])
    expect(changesOf(base, d => d.getMap('other').set('k', 1))).toEqual([])
    // A full state update: only what base lacks counts, and the whole delete set is repeated.
    select(base, 'm1', 'carol', 2)
    deselect(base, 'm1')
    const doc = replica(base, 3)
    select(doc, 'm5', 'dave', 3)
    expect(summarizeUpdate(base, Y.encodeStateAsUpdate(doc))).toEqual([change('selections', 'add', 'm5')])
    Y.applyUpdate(base, Y.encodeStateAsUpdate(doc))
    expect(summarizeUpdate(base, Y.encodeStateAsUpdate(doc))).toEqual([])
  })

  it('rich text: one update per fragment edited, named by the fragment, after the collections', () => {
    const base = baseDoc()
    const rich = (op: 'update', key: string) => ({ path: 'richText', op, key })
    // What Tiptap's Collaboration extension writes: paragraphs of text in a fragment.
    const paragraph = (text: string) => {
      const p = new Y.XmlElement('paragraph')
      p.insert(0, [new Y.XmlText(text)])
      return p
    }
    expect(changesOf(base, d => d.getXmlFragment('richText').insert(0, [paragraph('Hello')]))).toEqual([rich('update', 'richText')])
    // Like the server's copy, base never defines the fragment: it knows the root only from updates.
    const writer = replica(base, 5)
    writer.getXmlFragment('richText').insert(0, [paragraph('Hello')])
    Y.applyUpdate(base, Y.encodeStateAsUpdate(writer))
    expect(base.share.get('richText')).not.toBeInstanceOf(Y.XmlFragment)
    const textOf = (d: Y.Doc) => (d.getXmlFragment('richText').get(0) as Y.XmlElement).get(0) as Y.XmlText
    expect(changesOf(base, d => textOf(d).insert(5, ', world'))).toEqual([rich('update', 'richText')])
    expect(changesOf(base, d => textOf(d).format(0, 5, { bold: true }))).toEqual([rich('update', 'richText')])
    expect(changesOf(base, d => (d.getXmlFragment('richText').get(0) as Y.XmlElement).setAttribute('textAlign', 'center'))).toEqual([rich('update', 'richText')])
    expect(changesOf(base, d => textOf(d).delete(0, 2))).toEqual([rich('update', 'richText')])
    expect(changesOf(base, d => d.getXmlFragment('richText').delete(0, 1))).toEqual([rich('update', 'richText')])
    // Beside a collection's entry, and in two fragments at once.
    expect(changesOf(base, d => {
      select(d, 'm9', 'b', 1)
      d.getXmlFragment('default').insert(0, [paragraph('x')])
      textOf(d).insert(0, '> ')
    })).toEqual([change('selections', 'add', 'm9'), rich('update', 'default'), rich('update', 'richText')])
    // Not rich text: a root that holds something else, or XML created and removed within the update.
    expect(changesOf(base, d => d.getArray('other').insert(0, [1]))).toEqual([])
    expect(changesOf(base, d => { d.getXmlFragment('notes').insert(0, [paragraph('gone')]); d.getXmlFragment('notes').delete(0, 1) })).toEqual([])
  })

  it('handles updates that depend on structs the doc does not have yet', () => {
    const base = baseDoc()
    const other = replica(base, 4)
    annotate(other, { id: 'a5', target: 'm1', author: 'e', text: 'abc' })
    const sv = Y.encodeStateVector(other)
    annotationText(other, 'a5')!.insert(3, 'def')
    // Only the text edit, without the annotation it belongs to: nothing can be named.
    expect(summarizeUpdate(base, Y.encodeStateAsUpdate(other, sv))).toEqual([])
  })

  it('every visible change is reported, with the op it shows (seeded random edits)', () => {
    const gen = prng.create(42)
    for (let round = 0; round < 200; round++) {
      const base = baseDoc()
      randomEdits(gen, base, 3) // history the replica shares
      const doc = replica(base, 2)
      randomEdits(gen, base, prng.int32(gen, 0, 2)) // concurrent edits the replica lacks
      randomEdits(gen, doc, prng.int32(gen, 1, 4))
      const update = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(base))
      const changes = summarizeUpdate(base, update) as Change[] // no rich text here
      const before = readState(base)
      Y.applyUpdate(base, update)
      expectCovered(before, readState(base), changes)
    }
  })
})

describe('summarizeUpdate on hostile updates', () => {
  it('never throws for an update that passes validateUpdate (seeded mutations)', () => {
    const gen = prng.create(7)
    const base = baseDoc()
    const doc = replica(base, 2)
    randomEdits(gen, doc, 30)
    const updates = [Y.encodeStateAsUpdate(doc), Y.encodeStateAsUpdate(doc, Y.encodeStateVector(base))]
    let checked = 0
    for (let i = 0; i < 5_000; i++) {
      const bytes = Uint8Array.from(prng.oneOf(gen, updates))
      for (let m = prng.int32(gen, 1, 2); m > 0; m--) bytes[prng.int32(gen, 0, bytes.length - 1)] = prng.uint32(gen, 0, 255)
      try { validateUpdate(bytes) } catch { continue }
      summarizeUpdate(base, bytes)
      checked++
    }
    expect(checked).toBeGreaterThan(500)
  })
})

function randomEdits(gen: prng.PRNG, doc: Y.Doc, count: number): void {
  const memory = () => `m${prng.int32(gen, 1, 4)}`
  for (let i = 0; i < count; i++) {
    const state = readState(doc)
    const annotations = Object.keys(state.annotations)
    const open = Object.values(state.decisions).filter(d => d.status === 'open')
    switch (prng.int32(gen, 0, 8)) {
      case 0: select(doc, memory(), 'p', i); break
      case 1: deselect(doc, memory()); break
      case 2: explore(doc, { memoryId: memory(), by: 'p', at: i }); break
      case 3: { const path = getExplorationPath(doc); if (path.length > 0) path.delete(prng.int32(gen, 0, path.length - 1), 1); break }
      case 4: annotate(doc, { id: `a${prng.int32(gen, 1, 1000)}x${doc.clientID}`, target: memory(), author: 'p', text: 'abc' }); break
      case 5: if (annotations.length) annotationText(doc, prng.oneOf(gen, annotations))?.insert(0, 'z'); break
      case 6: if (annotations.length) getAnnotations(doc).delete(prng.oneOf(gen, annotations)); break
      case 7: if (open.length) { const d = prng.oneOf(gen, open); vote(doc, d.id, `p${prng.int32(gen, 1, 3)}`, prng.oneOf(gen, d.options)) } break
      default: propose(doc, { id: `d${prng.int32(gen, 1, 1000)}x${doc.clientID}`, question: 'q', options: ['x', 'y'], quorum: 2, createdBy: 'p' })
    }
  }
}

/** Every entry (and vote) that differs between the two states is among `changes`, with a fitting op. */
function expectCovered(before: SessionState, after: SessionState, changes: Change[]): void {
  const reported = new Map(changes.map(c => [`${c.path}/${c.key}`, c.op]))
  for (const path of ['selections', 'annotations', 'decisions'] as const) {
    const keys = new Set([...Object.keys(before[path]), ...Object.keys(after[path])])
    for (const key of keys) {
      const was = before[path][key]
      const is = after[path][key]
      if (JSON.stringify(was) === JSON.stringify(is)) continue
      const expected = was === undefined ? ['add'] : is === undefined ? ['delete'] : ['update']
      expect(expected, `${path}/${key}: ${JSON.stringify(changes)}`).toContain(reported.get(`${path}/${key}`))
    }
  }
  const count = (s: SessionState) => s.explorationPath.reduce((m, step) => m.set(step.memoryId, (m.get(step.memoryId) ?? 0) + 1), new Map<string, number>())
  const [was, is] = [count(before), count(after)]
  for (const key of new Set([...was.keys(), ...is.keys()])) {
    if (was.get(key) === is.get(key)) continue
    const op = reported.get(`explorationPath/${key}`)
    expect(op, `explorationPath/${key}: ${JSON.stringify(changes)}`).toBeDefined()
  }
  // Every vote that differs is named, with a fitting op.
  for (const [id, decision] of Object.entries(after.decisions)) {
    const had = before.decisions[id]?.votes ?? {}
    const named = new Map((changes.find(c => c.path === 'decisions' && c.key === id)?.votes ?? []).map(v => [v.key, v.op]))
    for (const voter of new Set([...Object.keys(had), ...Object.keys(decision.votes)])) {
      if (had[voter] === decision.votes[voter]) continue
      const expected = had[voter] === undefined ? 'add' : decision.votes[voter] === undefined ? 'delete' : 'update'
      expect(named.get(voter), `decisions/${id} vote ${voter}: ${JSON.stringify(changes)}`).toBe(expected)
    }
  }
}
