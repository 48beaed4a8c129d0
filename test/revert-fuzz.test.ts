/**
 * Reverting one run (session/revert.ts) under seeded random interleavings, in memory: several
 * actors edit every collection (selections, the exploration path, annotations and their text,
 * decisions and their votes) on replicas that see each other's edits late, a "server" replica
 * keeps the log in arrival order, and one run is reverted. The result must equal the document
 * built from the log without that run's updates wherever nobody else touched the same entry
 * after the run did; the exploration path keeps every step the others made, in their order.
 */
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { applyDocOp, type DocOp } from '../src/session/docOps.js'
import { readState } from '../src/session/readState.js'
import type { PathStep, SessionState } from '../src/session/schema.js'
import { annotationText } from '../src/session/write.js'
import { getAnnotations, getDecisions, getExplorationPath } from '../src/session/roots.js'
import { revertUpdates, type AttributedUpdate } from '../src/session/revert.js'
import { withoutRun } from './fixtures/revertOracle.js'

interface Actor {
  id: string
  run: string | null
  /** Its replica: a run has its own (its own Yjs client), as a run of the SDK does. */
  doc: Y.Doc
}

interface Entry {
  update: Uint8Array
  actor: string
  run: string | null
  /** The units (see `unitsOf`) the edit touched. */
  units: string[]
  /** Exploration steps (by value, as JSON) it added and deleted. */
  addedSteps: string[]
  deletedSteps: string[]
}

const REVERTED = 'r1'
/** REVERT_FUZZ_SEEDS=5000 REVERT_FUZZ_FIRST=1000 explores further. */
const SEEDS = Number(process.env.REVERT_FUZZ_SEEDS ?? 150)
const FIRST_SEED = Number(process.env.REVERT_FUZZ_FIRST ?? 1)

function simulate(seed: number, steps: number) {
  const gen = prng.create(seed)
  // Client ids from the seed too: they settle concurrent writes of one key.
  const replica = () => {
    const doc = new Y.Doc()
    doc.clientID = prng.uint32(gen, 1, 2 ** 31)
    return doc
  }
  const server = replica()
  const actors: Actor[] = [
    // One agent in two runs (its votes share a voter), another agent.
    { id: 'agent-a', run: REVERTED, doc: replica() },
    { id: 'agent-a', run: 'r2', doc: replica() },
    { id: 'agent-b', run: 'r3', doc: replica() },
    { id: 'ada', run: null, doc: replica() },
    { id: 'bob', run: null, doc: replica() },
  ]
  const log: Entry[] = []
  let clock = 0
  const memory = () => `m${prng.int32(gen, 1, 5)}`
  for (let i = 0; i < steps; i++) {
    const actor = prng.oneOf(gen, actors)
    if (prng.bool(gen)) {
      // Catch up with the server (sometimes only: replicas lag, so edits are concurrent).
      Y.applyUpdate(actor.doc, Y.encodeStateAsUpdate(server, Y.encodeStateVector(actor.doc)))
    }
    const edit = randomEdit(gen, actor, memory, ++clock)
    if (!edit) continue
    const updates: Uint8Array[] = []
    const collect = (u: Uint8Array) => void updates.push(u)
    actor.doc.on('update', collect)
    try {
      edit.apply()
    } catch {
      continue // a closed decision, an unknown option: not an edit
    } finally {
      actor.doc.off('update', collect)
    }
    if (updates.length === 0) continue
    const update = Y.mergeUpdates(updates)
    Y.applyUpdate(server, update)
    log.push({ update, actor: actor.id, run: actor.run, units: edit.units, addedSteps: edit.addedSteps ?? [], deletedSteps: edit.deletedSteps ?? [] })
  }
  return { server, log }
}

interface Edit {
  apply(): void
  units: string[]
  addedSteps?: string[]
  deletedSteps?: string[]
}

const ANNOTATION_FIELDS = ['target', 'author', 'createdAt', 'text', 'resolved']
const DECISION_FIELDS = ['question', 'options', 'quorum', 'status', 'createdBy']

function randomEdit(gen: prng.PRNG, actor: Actor, memory: () => string, at: number): Edit | undefined {
  const { doc, id } = actor
  const op = (o: DocOp) => () => void applyDocOp(doc, o, id, undefined, at)
  const annotations = [...getAnnotations(doc).keys()]
  const decisions = [...getDecisions(doc).keys()]
  switch (prng.int32(gen, 0, 9)) {
    case 0: {
      const m = memory()
      return { apply: op({ op: 'select', memoryId: m }), units: [`selections/${m}`] }
    }
    case 1: {
      const m = memory()
      return { apply: op({ op: 'deselect', memoryId: m }), units: [`selections/${m}`] }
    }
    case 2: {
      const m = memory()
      const note = `${id}@${at}`
      return { apply: op({ op: 'explore', memoryId: m, note }), units: [], addedSteps: [JSON.stringify({ memoryId: m, by: id, at, note })] }
    }
    case 3: {
      // Takes a step off the path (no SDK operation does, but any peer may).
      const path = getExplorationPath(doc)
      if (path.length === 0) return undefined
      const index = prng.int32(gen, 0, path.length - 1)
      const step = JSON.stringify(path.get(index))
      return { apply: () => path.delete(index, 1), units: [], deletedSteps: [step] }
    }
    case 4: {
      const key = `a-${actor.run ?? id}-${at}`
      return { apply: op({ op: 'annotate', target: memory(), text: `note ${at}`, id: key }), units: ANNOTATION_FIELDS.map((f) => `annotations/${key}/${f}`) }
    }
    case 5: {
      if (annotations.length === 0) return undefined
      const key = prng.oneOf(gen, annotations)
      return { apply: op({ op: 'resolve', annotationId: key }), units: [`annotations/${key}/resolved`] }
    }
    case 6: {
      // Types into, or cuts from, an annotation's text.
      if (annotations.length === 0) return undefined
      const key = prng.oneOf(gen, annotations)
      const text = annotationText(doc, key)
      if (!text) return undefined
      const apply = text.length > 0 && prng.bool(gen)
        ? () => text.delete(prng.int32(gen, 0, text.length - 1), 1)
        : () => text.insert(prng.int32(gen, 0, text.length), ` ${id}`)
      return { apply, units: [`annotations/${key}/text`] }
    }
    case 7: {
      const key = `d-${actor.run ?? id}-${at}`
      return {
        apply: op({ op: 'propose', question: `q${at}?`, options: ['yes', 'no'], quorum: 9, id: key }),
        units: [...DECISION_FIELDS, 'outcome'].map((f) => `decisions/${key}/${f}`),
      }
    }
    case 8: {
      if (decisions.length === 0) return undefined
      const key = prng.oneOf(gen, decisions)
      return { apply: op({ op: 'vote', decisionId: key, option: prng.bool(gen) ? 'yes' : 'no' }), units: [`decisions/${key}/votes/${id}`] }
    }
    default: {
      if (decisions.length === 0) return undefined
      const key = prng.oneOf(gen, decisions)
      return { apply: op({ op: 'reject', decisionId: key }), units: [`decisions/${key}/status`] }
    }
  }
}

/** Every unit of the collections in a state, with its value as JSON (absent units are left out). */
function unitsOf(state: SessionState): Map<string, string> {
  const units = new Map<string, string>()
  for (const [key, value] of Object.entries(state.selections)) units.set(`selections/${key}`, JSON.stringify(value))
  for (const [key, a] of Object.entries(state.annotations)) {
    for (const field of ANNOTATION_FIELDS) units.set(`annotations/${key}/${field}`, JSON.stringify(a[field as keyof typeof a]))
  }
  for (const [key, d] of Object.entries(state.decisions)) {
    for (const field of [...DECISION_FIELDS, 'outcome']) {
      const value = d[field as keyof typeof d]
      if (value !== undefined) units.set(`decisions/${key}/${field}`, JSON.stringify(value))
    }
    for (const [voter, option] of Object.entries(d.votes)) units.set(`decisions/${key}/votes/${voter}`, option)
  }
  return units
}

/** Units the run touched that someone else touched after it: where Yjs' revert and the oracle may part. */
function contested(log: Entry[]): Set<string> {
  const byRun = new Set<string>()
  const out = new Set<string>()
  for (const entry of log) {
    for (const unit of entry.units) {
      if (entry.run === REVERTED) byRun.add(unit)
      else if (byRun.has(unit)) out.add(unit)
    }
  }
  return out
}

function check(seed: number, steps: number) {
  const { server, log } = simulate(seed, steps)
  const attributed: AttributedUpdate[] = log.map((e) => ({ update: e.update, inRun: e.run === REVERTED }))
  const { update, diff } = revertUpdates(null, attributed)

  const reverted = new Y.Doc()
  Y.applyUpdate(reverted, Y.encodeStateAsUpdate(server))
  const before = readState(reverted)
  if (update) Y.applyUpdate(reverted, update)
  const got = readState(reverted)
  const want = withoutRun(log.map((e) => ({ update: e.update, inRun: e.run === REVERTED })))

  const skip = contested(log)
  const gotUnits = unitsOf(got)
  const wantUnits = unitsOf(want)
  for (const unit of new Set([...gotUnits.keys(), ...wantUnits.keys()])) {
    if (skip.has(unit)) continue
    expect(gotUnits.get(unit), `seed ${seed}: ${unit}`).toEqual(wantUnits.get(unit))
  }
  // The path: the others' steps, in order, none of the run's; a step both the run and someone
  // else took off is left out (the revert restores it: the run's deletion is taken back).
  const both = new Set(log.filter((e) => e.run === REVERTED).flatMap((e) => e.deletedSteps)
    .filter((s) => log.some((e) => e.run !== REVERTED && e.deletedSteps.includes(s))))
  const stepsOf = (path: PathStep[]) => path.map((s) => JSON.stringify(s)).filter((s) => !both.has(s))
  expect(stepsOf(got.explorationPath), `seed ${seed}: explorationPath`).toEqual(stepsOf(want.explorationPath))

  // The diff names exactly the entries that changed.
  const changedKeys = (a: SessionState, b: SessionState) => {
    const keys: string[] = []
    for (const path of ['selections', 'annotations', 'decisions'] as const) {
      for (const key of new Set([...Object.keys(a[path]), ...Object.keys(b[path])])) {
        if (JSON.stringify(a[path][key]) !== JSON.stringify(b[path][key])) keys.push(`${path}/${key}`)
      }
    }
    return keys.sort()
  }
  expect(diff.filter((d) => d.path !== 'explorationPath').map((d) => `${d.path}/${d.key}`).sort()).toEqual(changedKeys(before, got))
  return { update, changed: !sameState(before, got) }
}

const sameState = (a: SessionState, b: SessionState) => JSON.stringify(a) === JSON.stringify(b)

describe('reverting one run (seeded)', () => {
  it('keeps everyone else\'s edits and takes back the run\'s, over 150 random interleavings', () => {
    let changed = 0
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      if (check(seed, 60).changed) changed += 1
    }
    // The runs did something in most interleavings: the check is not vacuous.
    expect(changed).toBeGreaterThan(SEEDS * 0.6)
  })

  it('takes back a run whose edits are all that happened, leaving the base', () => {
    const base = new Y.Doc()
    applyDocOp(base, { op: 'select', memoryId: 'm1' }, 'ada', undefined, 1)
    const agent = new Y.Doc()
    Y.applyUpdate(agent, Y.encodeStateAsUpdate(base))
    const updates: Uint8Array[] = []
    agent.on('update', (u: Uint8Array) => void updates.push(u))
    applyDocOp(agent, { op: 'deselect', memoryId: 'm1' }, 'agent-a', undefined, 2)
    applyDocOp(agent, { op: 'select', memoryId: 'm2' }, 'agent-a', undefined, 3)
    applyDocOp(agent, { op: 'annotate', target: 'm2', text: 'mine', id: 'a1' }, 'agent-a', undefined, 4)
    const { update, diff } = revertUpdates(Y.encodeStateAsUpdate(base), updates.map((u) => ({ update: u, inRun: true })))
    const doc = new Y.Doc()
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(agent))
    Y.applyUpdate(doc, update!)
    expect(readState(doc)).toEqual(readState(base))
    expect(diff.map(({ path, key, change }) => ({ path, key, change }))).toEqual([
      { path: 'selections', key: 'm1', change: 'added' },
      { path: 'selections', key: 'm2', change: 'removed' },
      { path: 'annotations', key: 'a1', change: 'removed' },
    ])
  })

  it('keeps a later value someone else wrote over the run\'s', () => {
    const agent = new Y.Doc()
    const human = new Y.Doc()
    const log: AttributedUpdate[] = []
    agent.on('update', (u: Uint8Array) => { log.push({ update: u, inRun: true }); Y.applyUpdate(human, u) })
    human.on('update', (u: Uint8Array, origin: unknown) => { if (origin === null) log.push({ update: u, inRun: false }) })
    applyDocOp(agent, { op: 'select', memoryId: 'm1' }, 'agent-a', undefined, 1)
    applyDocOp(human, { op: 'select', memoryId: 'm1' }, 'ada', undefined, 2)
    const { update } = revertUpdates(null, log)
    if (update) Y.applyUpdate(human, update)
    expect(readState(human).selections).toEqual({ m1: { by: 'ada', at: 2 } })
  })

  it('answers no update for a run that changed nothing that still shows', () => {
    expect(revertUpdates(null, [])).toMatchObject({ update: null, diff: [], runUpdates: 0 })
  })
})
