/**
 * What reverting one run would do, read from the log: the run's `doc.update` events (by the
 * `run` of their actor) are taken back on a document rebuilt from the newest snapshot before
 * the run's first one (session/revert.ts), and its memory events counted. The caller stores
 * the result only while the session is still at `head` (http/routes/runs.ts).
 */
import { PROJECTED_TYPES } from '../memory/projection.js'
import { RUN_REVERTED } from '../memory/retractions.js'
import type { DiffEntry } from '../session/diff.js'
import { revertUpdates, type AttributedUpdate } from '../session/revert.js'
import type { TouchedByOthers } from '../session/history.js'
import type { EventStore, StoredEvent } from '../store/types.js'
import type { Actor } from '../vocabulary.js'
import { toChangeRecord } from './changeLog.js'

export type { TouchedByOthers }

export type RevertPlan =
  | { found: false }
  | { found: true; reverted: StoredEvent }
  | {
    found: true
    reverted?: undefined
    /** The session's head the plan was read at. */
    head: { version: number; position: number }
    /** Who made the run's first change (its actor). */
    actor: Actor
    update: Uint8Array | null
    diff: DiffEntry[]
    /** The run's `doc.update` events and memory events. */
    updates: number
    memoryEvents: number
    touchedByOthers: TouchedByOthers[]
  }

const PAGE = 2000

/**
 * @example
 * const plan = await planRevert(store, 's1', 'r-7')
 * if (plan.found && !plan.reverted) console.log(plan.diff)
 */
export async function planRevert(store: EventStore, session: string, run: string): Promise<RevertPlan> {
  const head = await store.head(session)
  if (!head) return { found: false }
  const reverted = await findRevert(store, session, run)
  if (reverted) return { found: true, reverted }
  const [first] = await store.readDocChanges(session, { run, limit: 1 })
  const memory = await runMemoryEvents(store, session, run)
  if (!first && memory.count === 0) return { found: false }
  if (!first) {
    return {
      found: true, head: { version: head.version, position: head.position }, actor: memory.actor!,
      update: null, diff: [], updates: 0, memoryEvents: memory.count, touchedByOthers: [],
    }
  }
  // A snapshot before the run's first change holds none of it; everything after is replayed.
  const snapshot = await store.loadSnapshot(session, first.position - 1)
  const updates: AttributedUpdate[] = []
  const touched = new Set<string>()
  const others = new Map<string, TouchedByOthers>()
  let after = snapshot?.position ?? 0
  for (;;) {
    const page = await store.read(session, { after, until: head.position, types: ['doc.update'], limit: PAGE })
    for (const event of page) {
      const inRun = event.actor.run === run
      if (event.payload) updates.push({ update: event.payload, inRun })
      for (const { path, key } of toChangeRecord({ ...event, meta: event.meta, changes: event.data.changes }).changes) {
        const id = `${path}\u0000${key}`
        if (inRun) touched.add(id)
        else if (touched.has(id)) others.set(id, { path, key, by: event.actor, version: event.version })
      }
    }
    if (page.length < PAGE) break
    after = page.at(-1)!.position
  }
  const outcome = revertUpdates(snapshot?.state ?? null, updates)
  return {
    found: true,
    head: { version: head.version, position: head.position },
    actor: first.actor,
    update: outcome.update,
    diff: outcome.diff,
    updates: outcome.runUpdates,
    memoryEvents: memory.count,
    touchedByOthers: [...others.values()],
  }
}

/** The session's `run.reverted` of `run`, if it has one. */
export async function findRevert(store: EventStore, session: string, run: string): Promise<StoredEvent | undefined> {
  for (let after = 0; ;) {
    const page = await store.read(session, { after, types: [RUN_REVERTED], limit: PAGE })
    const found = page.find((e) => e.data.run === run)
    if (found) return found
    if (page.length < PAGE) return undefined
    after = page.at(-1)!.position
  }
}

async function runMemoryEvents(store: EventStore, session: string, run: string): Promise<{ count: number; actor?: Actor }> {
  let count = 0
  let actor: Actor | undefined
  for (let after = 0; ;) {
    const page = await store.read(session, { after, types: [...PROJECTED_TYPES], limit: PAGE })
    for (const e of page) {
      if (e.actor.run !== run) continue
      count += 1
      actor ??= e.actor
    }
    if (page.length < PAGE) return { count, actor }
    after = page.at(-1)!.position
  }
}
