/**
 * Blame: for every entry of the document — each selection, exploration step, annotation,
 * decision and vote — who created it and who changed it last, when, in which run and why,
 * and for an annotation who wrote each run of its text (textBlame.ts, which reads the payloads
 * of the updates that name annotations). Folded from the `changes` of the session's `doc.update` events, and
 * matched to the document as it stands, which says what exists: an entry whose history the
 * log's summaries do not hold (recorded with `changes: []`, see the README's limitations) is
 * listed with `createdBy: null`.
 *
 * Why: the change's `meta.rationale` (HTTP writes), else the `agent.rationale` event the SDK
 * records beside an edit it made over sync — by the same actor and run, naming the same entry,
 * the nearest to the change in the log.
 */
import type * as Y from 'yjs'
import { readPathSteps, readState } from '../session/readState.js'
import { ROOTS, type Change, type RootName } from '../session/schema.js'
import type { EventStore } from '../store/types.js'
import type { Actor } from '../vocabulary.js'
import { changeRecords, type ChangeRecord } from './changeLog.js'
import type { BlameEntry } from '../session/history.js'
import { annotationText } from '../session/write.js'
import { clockIndex, mayCarryText, textRanges } from './textBlame.js'

export type { BlameEntry }


/** What the log says of one entry since it was last added. */
interface History {
  created: ChangeRecord
  last: ChangeRecord
  /** The position of the change before `last` (0: none): a rationale for `last` comes after it. */
  before: number
}

interface Rationale {
  position: number
  text: string
}

/** The history of every entry (and vote) the log's summaries name, by entry id. */
export interface BlameIndex {
  entries: Map<string, History>
  /** By decision, then voter. */
  votes: Map<string, Map<string, History>>
  /** Votes whose summaries predate vote detail: the decision's updates by each voter's own id. */
  votesByActor: Map<string, Map<string, History>>
  rationales: Map<string, Rationale[]>
}

const entryId = (path: string, key: string) => `${path}\u0000${key}`
const stepId = (step: string) => `${ROOTS.explorationPath}\u0000\u0000${step}`

/**
 * Blame for `doc` (the session's document now) from the session's log.
 *
 * @example
 * const { entries } = await blameDocument(store, 's1', doc)
 */
export async function blameDocument(store: EventStore, session: string, doc: Y.Doc): Promise<{ entries: BlameEntry[] }> {
  const index = createBlameIndex()
  const carriers: ChangeRecord[] = []
  for await (const page of changeRecords(store, session)) {
    for (const record of page) {
      foldChange(index, record)
      if (mayCarryText(record)) carriers.push(record)
    }
  }
  for (let after = 0; ;) {
    const page = await store.read(session, { after, types: ['agent.rationale'], limit: 1000 })
    for (const event of page) foldRationale(index, event.position, event.actor, event.data, event.meta.rationale)
    if (page.length < 1000) break
    after = page.at(-1)!.position
  }
  const entries = blameEntries(index, doc)
  const annotated = entries.filter((e) => e.path === ROOTS.annotations && (annotationText(doc, e.key)?.length ?? 0) > 0)
  if (annotated.length > 0) {
    const clocks = await clockIndex(store, session, carriers)
    for (const entry of annotated) entry.text = textRanges(annotationText(doc, entry.key)!, clocks)
  }
  return { entries }
}

export function createBlameIndex(): BlameIndex {
  return { entries: new Map(), votes: new Map(), votesByActor: new Map(), rationales: new Map() }
}

/** Folds one `doc.update`'s summary into the index, in log order. */
export function foldChange(index: BlameIndex, record: ChangeRecord): void {
  for (const change of record.changes) {
    const id = change.path === ROOTS.explorationPath && change.step !== undefined ? stepId(change.step) : entryId(change.path, change.key)
    touch(index.entries, id, change.op, record)
    if (change.path === ROOTS.explorationPath && change.step !== undefined) {
      // Also by key, for steps a summary without step ids names.
      touch(index.entries, entryId(change.path, change.key), change.op, record)
    }
    if (change.path !== ROOTS.decisions) continue
    if (change.op !== 'update') {
      // A decision added anew or removed takes its votes with it.
      index.votes.delete(change.key)
      index.votesByActor.delete(change.key)
    }
    for (const vote of change.votes ?? []) touch(votesOf(index.votes, change.key), vote.key, vote.op, record)
    if (change.op === 'update' && change.votes === undefined && mayHoldVotes(change)) {
      touch(votesOf(index.votesByActor, change.key), record.actor.id, 'update', record)
    }
  }
}

function votesOf(map: Map<string, Map<string, History>>, decision: string): Map<string, History> {
  let votes = map.get(decision)
  if (!votes) map.set(decision, (votes = new Map()))
  return votes
}

export function foldRationale(index: BlameIndex, position: number, actor: Actor, data: Record<string, unknown>, text: string | undefined): void {
  if (text === undefined || typeof data.path !== 'string' || typeof data.key !== 'string') return
  const id = rationaleId(actor, data.path, data.key)
  const list = index.rationales.get(id) ?? []
  list.push({ position, text })
  index.rationales.set(id, list)
}

/** The entries of `doc` with their blame, in the order of the session document's table. */
export function blameEntries(index: BlameIndex, doc: Y.Doc): BlameEntry[] {
  const state = readState(doc)
  const out: BlameEntry[] = []
  for (const key of Object.keys(state.selections)) out.push(entryOf(index, ROOTS.selections, key, index.entries.get(entryId(ROOTS.selections, key))))
  for (const [i, { value: { memoryId: key }, step }] of readPathSteps(doc).entries()) {
    const found = index.entries.get(stepId(step)) ?? index.entries.get(entryId(ROOTS.explorationPath, key))
    out.push({ ...entryOf(index, ROOTS.explorationPath, key, found), step, index: i })
  }
  for (const key of Object.keys(state.annotations)) out.push(entryOf(index, ROOTS.annotations, key, index.entries.get(entryId(ROOTS.annotations, key))))
  for (const [key, decision] of Object.entries(state.decisions)) {
    out.push(entryOf(index, ROOTS.decisions, key, index.entries.get(entryId(ROOTS.decisions, key))))
    for (const voter of Object.keys(decision.votes)) {
      const found = index.votes.get(key)?.get(voter) ?? index.votesByActor.get(key)?.get(voter)
      out.push({ ...entryOf(index, ROOTS.decisions, key, found), vote: voter })
    }
  }
  return out
}

function entryOf(index: BlameIndex, path: RootName, key: string, history: History | undefined): BlameEntry {
  if (!history) return { path, key, createdBy: null, createdAt: null, lastChangedBy: null, lastChangedAt: null, lastChangedVersion: null }
  const { created, last } = history
  const entry: BlameEntry = {
    path, key,
    createdBy: created.actor, createdAt: created.recordedAt,
    lastChangedBy: last.actor, lastChangedAt: last.recordedAt, lastChangedVersion: last.version,
  }
  if (last.actor.run !== undefined) entry.run = last.actor.run
  const rationale = last.meta.rationale ?? nearestRationale(index, history, path, key)
  if (rationale !== undefined) entry.rationale = rationale
  return entry
}

function touch(map: Map<string, History>, id: string, op: Change['op'], record: ChangeRecord): void {
  if (op === 'delete') {
    map.delete(id)
    return
  }
  const known = map.get(id)
  // An add starts the entry's history over; an update of an entry whose add the log does not name starts it too.
  if (op === 'add' || !known) map.set(id, { created: record, last: record, before: known?.last.position ?? 0 })
  else if (known.last !== record) {
    known.before = known.last.position
    known.last = record
  }
}

/** An update summarized without vote detail that may have cast a vote: an older summary, or one in the votes. */
function mayHoldVotes(change: Change): boolean {
  return change.fields === undefined || change.fields.includes('votes')
}

const rationaleId = (actor: Actor, path: string, key: string) => `${actor.id}\u0000${actor.run ?? ''}\u0000${path}\u0000${key}`

/** The `agent.rationale` nearest to the last change, and after the change before it. */
function nearestRationale(index: BlameIndex, { last, before }: History, path: RootName, key: string): string | undefined {
  const list = index.rationales.get(rationaleId(last.actor, path, key))
  let best: Rationale | undefined
  for (const r of list ?? []) {
    if (r.position <= before) continue
    if (!best || Math.abs(r.position - last.position) < Math.abs(best.position - last.position)) best = r
  }
  return best?.text
}
