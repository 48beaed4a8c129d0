/**
 * A long session written fast: real Yjs edits on one document (the session write helpers,
 * seeded), each update one `doc.update` event, appended in batches. The mix is what most
 * updates of a long session are: typing into annotations, in bursts of 3–25 words (about
 * 97 % of updates), selections coming and going over 300 memories; then path steps, votes,
 * new annotations, resolutions and decisions. The history grows much faster than the state.
 */
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { propose, vote } from '../../src/session/decisions.js'
import { annotate, annotationText, deselect, explore, resolveAnnotation, select } from '../../src/session/write.js'
import type { Actor, EventStore, NewEvent } from '../../src/store/types.js'

const ACTORS: Actor[] = [
  { id: 'alice', name: 'Alice', kind: 'human' },
  { id: 'bob', name: 'Bob', kind: 'human' },
  { id: 'agent-7', name: 'Navigator', kind: 'agent', model: 'bench-model', onBehalfOf: 'alice' },
]

export interface Workload {
  /** The next edit as a `doc.update` event (its Yjs update as the payload). */
  next(): NewEvent
  doc: Y.Doc
}

export function createWorkload(seed = 42): Workload {
  const gen = prng.create(seed)
  const doc = new Y.Doc()
  const annotations: string[] = []
  const decisions: string[] = []
  let step = 0
  let burst = { id: '', left: 0 }
  let typist = ACTORS[0]
  let captured: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => captured.push(update))
  const memory = () => `m${prng.uint32(gen, 1, 300)}`

  function edit(actor: Actor): void {
    const roll = prng.uint32(gen, 0, 999)
    const at = 1_763_700_000_000 + step * 250
    if (roll < 700 && annotations.length > 0) {
      // Typing comes in bursts: the next few updates go on typing at the end of one text.
      burst = { id: annotations[Math.max(0, annotations.length - 1 - prng.uint32(gen, 0, 5))], left: prng.uint32(gen, 2, 24) }
      type(burst.id)
    } else if (roll < 850) select(doc, memory(), actor.id, at)
    else if (roll < 900) deselect(doc, memory())
    else if (roll < 930) explore(doc, { memoryId: memory(), by: actor.id, at, note: roll % 3 === 0 ? `because of step ${step}` : undefined })
    else if (roll < 940 || annotations.length === 0) annotations.push(annotate(doc, { target: memory(), author: actor.id, text: '', id: `a${step}`, createdAt: at }))
    else if (roll < 950) resolveAnnotation(doc, annotations[prng.uint32(gen, 0, annotations.length - 1)])
    else if (roll < 952 || decisions.length === 0) {
      decisions.push(propose(doc, { id: `d${step}`, question: `Take path ${step}?`, options: ['yes', 'no', 'later'], quorum: 3, createdBy: actor.id }))
    } else if (roll < 980) {
      const id = decisions[Math.max(0, decisions.length - 1 - prng.uint32(gen, 0, 3))]
      try {
        vote(doc, id, actor.id, ['yes', 'no', 'later'][prng.uint32(gen, 0, 2)])
      } catch {
        select(doc, memory(), actor.id, at) // the decision was closed meanwhile: do something else
      }
    } else select(doc, memory(), actor.id, at)
  }

  /** Typing: a word at the end (mostly), somewhere inside, or a few characters deleted. */
  function type(id: string, atEnd = false): void {
    const text = annotationText(doc, id)!
    const roll = prng.uint32(gen, 0, 99)
    if (atEnd || roll < 85 || text.length < 10) text.insert(text.length, prng.word(gen, 1, 6) + ' ')
    else if (roll < 95) text.insert(prng.uint32(gen, 0, text.length), prng.word(gen, 1, 4))
    else text.delete(prng.uint32(gen, 0, text.length - 6), prng.uint32(gen, 1, 5))
  }

  return {
    doc,
    next() {
      step += 1
      if (burst.left <= 0) typist = ACTORS[step % ACTORS.length]
      const actor = typist
      captured = []
      if (burst.left-- > 0) type(burst.id, true)
      else edit(actor)
      const update = captured.length === 1 ? captured[0] : Y.mergeUpdates(captured)
      return { type: 'doc.update', data: { bytes: update.byteLength, changes: [] }, payload: update, actor }
    },
  }
}

/**
 * Appends `count` doc.update events to `session` (after a `session.created`), `batch` per
 * append, a few appends in flight so group commit can work. Calls `onProgress` per batch.
 */
export async function writeSession(
  store: EventStore, session: string, count: number,
  { batch = 1000, inFlight = 3, seed = 42, onProgress }: { batch?: number; inFlight?: number; seed?: number; onProgress?(written: number): void } = {},
): Promise<void> {
  const workload = createWorkload(seed)
  const created = await store.append(session, [{ type: 'session.created', data: { title: `bench ${session}` }, actor: ACTORS[0] }])
  if (!created.ok) throw new Error(`cannot create ${session}: ${JSON.stringify(created)}`)
  let written = 0
  const pending = new Set<Promise<void>>()
  while (written < count) {
    const size = Math.min(batch, count - written)
    const events = Array.from({ length: size }, () => workload.next())
    written += size
    // The appender queues appends in call order, so batches land in the order they were made.
    const p: Promise<void> = store.append(session, events).then((result) => {
      if (!result.ok) throw new Error(`append failed: ${JSON.stringify(result)}`)
      pending.delete(p)
    })
    pending.add(p)
    onProgress?.(written)
    if (pending.size >= inFlight) await Promise.race(pending)
  }
  await Promise.all(pending)
  workload.doc.destroy()
}
