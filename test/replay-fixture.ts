/**
 * Records a session the way a live room would: real edits on a Y.Doc (the session write
 * helpers, seeded), each update appended as a `doc.update` event, other events and other
 * sessions interleaved, and the state observed live after every event kept for comparison.
 */
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { propose, rejectDecision, vote, acceptDecision } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import type { SessionState } from '../src/session/schema.js'
import { annotate, annotationText, deselect, explore, resolveAnnotation, select } from '../src/session/write.js'
import type { Actor, EventStore, NewEvent } from '../src/store/types.js'

export const alice: Actor = { id: 'alice', name: 'Alice', kind: 'human' }
export const navigator: Actor = { id: 'agent-7', name: 'Navigator', kind: 'agent', model: 'test-model' }

export interface Observation {
  position: number
  version: number
  recordedAt: string
  type: string
  state: SessionState
}

export interface Recording {
  doc: Y.Doc
  observations: Observation[]
  /** Appends an edit made with `edit` as a doc.update, and observes the state. */
  edit(actor: Actor, edit: (doc: Y.Doc) => void): Promise<Observation>
  /** Appends any other event, and observes the (unchanged) state. */
  other(event: NewEvent): Promise<Observation>
}

export function startRecording(store: EventStore, session: string): Recording {
  const doc = new Y.Doc()
  const observations: Observation[] = []
  async function appendOne(event: NewEvent): Promise<Observation> {
    const result = await store.append(session, [event])
    if (!result.ok) throw new Error(`append failed: ${JSON.stringify(result)}`)
    const ref = result.events[0]
    const [stored] = await store.read(session, { after: ref.position - 1, limit: 1 })
    const observation = { position: ref.position, version: ref.version, recordedAt: stored.recordedAt, type: event.type, state: readState(doc) }
    observations.push(observation)
    return observation
  }
  return {
    doc,
    observations,
    async edit(actor, edit) {
      const updates: Uint8Array[] = []
      const onUpdate = (update: Uint8Array) => updates.push(update)
      doc.on('update', onUpdate)
      try {
        edit(doc)
      } finally {
        doc.off('update', onUpdate)
      }
      const update = updates.length === 1 ? updates[0] : Y.mergeUpdates(updates)
      return appendOne({ type: 'doc.update', data: { bytes: update.byteLength, changes: [] }, payload: update, actor })
    },
    other: appendOne,
  }
}

/** A seeded mix of every kind of edit, plus participants, conversation turns and a neighbour session. */
export async function recordMixedSession(store: EventStore, session: string, steps: number, seed = 7): Promise<Recording> {
  const gen = prng.create(seed)
  const rec = startRecording(store, session)
  const actors = [alice, navigator]
  const memory = () => `m${prng.uint32(gen, 1, 12)}`
  const annotations: string[] = []
  const decisions: string[] = []
  await rec.other({ type: 'session.created', data: { title: `recorded ${session}` }, actor: alice })
  await rec.other({ type: 'participant.joined', data: { participant: { id: alice.id, name: alice.name, kind: 'human' } }, actor: alice })
  await rec.other({ type: 'participant.joined', data: { participant: { id: navigator.id, name: navigator.name, kind: 'agent' } }, actor: navigator })
  for (let i = 0; i < steps; i++) {
    const actor = actors[i % 2]
    const roll = prng.uint32(gen, 0, 99)
    let t = 1_700_000_000_000 + i * 1000
    if (roll < 20) await rec.edit(actor, (d) => select(d, memory(), actor.id, t))
    else if (roll < 27) await rec.edit(actor, (d) => deselect(d, memory()))
    else if (roll < 45) await rec.edit(actor, (d) => explore(d, { memoryId: memory(), by: actor.id, at: t++, note: roll % 2 ? `step ${i}` : undefined }))
    else if (roll < 55) await rec.edit(actor, (d) => { annotations.push(annotate(d, { target: memory(), author: actor.id, text: `note ${i}`, id: `a${i}`, createdAt: t })) })
    else if (roll < 65 && annotations.length) {
      const id = annotations[prng.uint32(gen, 0, annotations.length - 1)]
      await rec.edit(actor, (d) => annotationText(d, id)!.insert(0, `(${i}) `))
    } else if (roll < 70 && annotations.length) {
      await rec.edit(actor, (d) => resolveAnnotation(d, annotations[0]))
    } else if (roll < 76) {
      await rec.edit(actor, (d) => { decisions.push(propose(d, { id: `d${i}`, question: `Q${i}?`, options: ['yes', 'no'], quorum: 2, createdBy: actor.id })) })
    } else if (roll < 86 && decisions.length) {
      const id = decisions[prng.uint32(gen, 0, decisions.length - 1)]
      const state = readState(rec.doc).decisions[id]
      if (state.status !== 'open') continue
      const option = prng.bool(gen) ? 'yes' : 'no'
      await rec.edit(actor, (d) => vote(d, id, actor.id, option))
      const after = readState(rec.doc).decisions[id]
      if (Object.values(after.votes).filter((v) => v === option).length >= 2) {
        await rec.edit({ id: 'server', name: 'mnemo', kind: 'server' }, (d) => acceptDecision(d, id, option))
      }
    } else if (roll < 88 && decisions.length) {
      const id = decisions[0]
      if (readState(rec.doc).decisions[id].status === 'open') await rec.edit(actor, (d) => rejectDecision(d, id))
    } else if (roll < 94) {
      await rec.other({ type: 'conversation.turn', data: { role: 'user', content: `turn ${i}` }, actor })
    } else {
      // Another session's event between two of this one's: positions are not contiguous.
      const neighbour = await store.append(`${session}-other`, [{ type: 'x.noise', data: { i }, actor }])
      if (!neighbour.ok) throw new Error('neighbour append failed')
    }
  }
  await rec.other({ type: 'participant.left', data: { participant: { id: navigator.id, name: navigator.name, kind: 'agent' } }, actor: navigator })
  return rec
}

/** The observation in force at `position`: the last one at or before it. */
export function observedAt(observations: Observation[], position: number): Observation | undefined {
  let found: Observation | undefined
  for (const o of observations) {
    if (o.position > position) break
    found = o
  }
  return found
}
