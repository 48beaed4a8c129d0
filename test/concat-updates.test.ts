/**
 * `concatUpdates` (protocol/updates.ts) joins the updates one client sent one after the other,
 * as the server stores a burst held while the sender's previous update was being stored: it
 * must apply exactly as `Y.mergeUpdates` of them does, on every kind of edit, deletes of other
 * clients' items included, and refuse (undefined) whatever is not such a run.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { concatUpdates, validateUpdate } from '../src/protocol/updates.js'

/** A seeded generator: the same cases on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One random edit of `doc`, in a transaction of its own (one update). */
function edit(doc: Y.Doc, rnd: () => number): void {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const map = doc.getMap('selections')
  const list = doc.getArray<unknown>('explorationPath')
  const text = doc.getText('notes')
  doc.transact(() => {
    switch (Math.floor(rnd() * 7)) {
      case 0: map.set(`k${Math.floor(rnd() * 6)}`, { by: 'b', at: rnd(), tags: ['x', rnd() > 0.5] }); break
      case 1: { // deletes in several places, and something new beside them (else a pure delete)
        const keys = [...map.keys()]
        if (keys.length > 0) map.delete(pick(keys))
        if (list.length > 3) { list.delete(0, 1); list.delete(list.length - 1, 1) }
        if (text.length > 2) text.delete(Math.floor(rnd() * (text.length - 1)), 1)
        list.push([rnd()])
        break
      }
      case 2: list.insert(Math.floor(rnd() * (list.length + 1)), [rnd(), 'step', { n: 1 }]); break
      case 3: if (list.length > 0) { const at = Math.floor(rnd() * list.length); list.delete(at, Math.min(list.length - at, 1 + Math.floor(rnd() * 3))) } text.insert(0, 'x'); break
      case 4: text.insert(Math.floor(rnd() * (text.length + 1)), pick(['a', 'bc', 'déjà ', 'ü'])); break
      case 5: if (text.length > 1) { const at = Math.floor(rnd() * (text.length - 1)); text.delete(at, 1 + Math.floor(rnd() * Math.min(3, text.length - at - 1))) } list.push(['after']); break
      case 6: { const inner = new Y.Map<unknown>(); inner.set('note', 'nested'); map.set(`n${Math.floor(rnd() * 3)}`, inner); if (text.length > 0) text.format(0, 1, { bold: true }); break }
    }
  })
}

/** Everything a document holds: its content, what it has seen and what it deleted. */
const stateOf = (doc: Y.Doc) => ({
  json: JSON.stringify({ s: doc.getMap('selections').toJSON(), p: doc.getArray('explorationPath').toJSON(), t: doc.getText('notes').toDelta() }),
  update: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64'),
})

/** JSON with every object's keys sorted. */
const sortedJson = (json: string): string => JSON.stringify(JSON.parse(json), (_key, value: unknown) =>
  value && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
    : value)

describe('concatUpdates', () => {
  it('applies as Y.mergeUpdates does, on every kind of edit, over 200 random bursts', () => {
    let runs = 0
    let deleting = 0
    for (let trial = 0; trial < 200; trial++) {
      const rnd = random(trial + 1)
      // Another client's content first, which the sender then edits and deletes too.
      const other = new Y.Doc()
      for (let i = 0; i < 10; i++) edit(other, rnd)
      const sender = new Y.Doc()
      Y.applyUpdate(sender, Y.encodeStateAsUpdate(other))
      for (let i = 0; i < Math.floor(rnd() * 5); i++) edit(sender, rnd)
      const base = Y.encodeStateAsUpdate(sender)
      const burst: Uint8Array[] = []
      sender.on('update', (update: Uint8Array) => burst.push(update))
      const edits = 2 + Math.floor(rnd() * 40)
      for (let i = 0; i < edits; i++) edit(sender, rnd)
      const run = burst.filter((update) => Y.decodeUpdate(update).structs.length > 0)
      if (run.length !== burst.length) continue // a pure delete: not a run (tested below)
      runs += 1
      if (burst.some((update) => Y.decodeUpdate(update).ds.clients.size > 0)) deleting += 1

      const joined = concatUpdates(burst)
      expect(joined, `trial ${trial}`).toBeInstanceOf(Uint8Array)
      validateUpdate(joined!)
      const viaMerge = new Y.Doc()
      Y.applyUpdate(viaMerge, base)
      Y.applyUpdate(viaMerge, Y.mergeUpdates(burst))
      const viaJoin = new Y.Doc()
      Y.applyUpdate(viaJoin, base)
      Y.applyUpdate(viaJoin, joined!)
      expect(stateOf(viaJoin), `trial ${trial}`).toEqual(stateOf(viaMerge))
      // As the sender has it: the same content (its maps list keys in the order it made them,
      // and it may keep structs split where a receiver joined them), seen and deleted alike.
      expect(sortedJson(stateOf(viaJoin).json), `trial ${trial}`).toEqual(sortedJson(stateOf(sender).json))
      expect(Y.equalSnapshots(Y.snapshot(viaJoin), Y.snapshot(sender)), `trial ${trial}`).toBe(true)
    }
    expect(runs).toBeGreaterThan(100)
    expect(deleting).toBeGreaterThan(50)
  })

  it('refuses what is not one client\'s updates one after the other', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const updates = (doc: Y.Doc, n: number) => {
      const out: Uint8Array[] = []
      const take = (u: Uint8Array) => out.push(u)
      doc.on('update', take)
      for (let i = 0; i < n; i++) doc.getMap('m').set(`k${i}`, i)
      doc.off('update', take)
      return out
    }
    const [a1, a2, a3] = updates(a, 3)
    const [b1] = updates(b, 1)
    expect(concatUpdates([a1!, a2!, a3!])).toBeInstanceOf(Uint8Array)
    expect(concatUpdates([a1!, a3!])).toBeUndefined() // a gap
    expect(concatUpdates([a2!, a1!])).toBeUndefined() // out of order
    expect(concatUpdates([a1!, b1!])).toBeUndefined() // two clients
    expect(concatUpdates([Y.mergeUpdates([a1!, b1!])])).toBeUndefined() // two clients in one
    const deleted: Uint8Array[] = []
    a.on('update', (u: Uint8Array) => deleted.push(u))
    a.getMap('m').delete('k0')
    expect(concatUpdates([a1!, a2!, a3!, deleted[0]!])).toBeUndefined() // a pure delete
    expect(concatUpdates([])).toBeUndefined()
  })
})
