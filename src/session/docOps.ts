/**
 * The document operations as data — select, deselect, explore, annotate, resolve, propose,
 * vote, reject — applied with the write helpers, and the entries each one reads: a write
 * that relied on an old view of those entries is stale (SPEC "Agents under control").
 * `POST …/doc` takes them; the agent SDK sends them there when a write names `basedOn`.
 */
import type * as Y from 'yjs'
import { randomId } from './randomId.js'
import { propose, rejectDecision, vote } from './decisions.js'
import { ROOTS, type RootName } from './schema.js'
import { annotate, deselect, explore, resolveAnnotation, select } from './write.js'

export type DocOp =
  | { op: 'select'; memoryId: string }
  | { op: 'deselect'; memoryId: string }
  | { op: 'explore'; memoryId: string; note?: string }
  | { op: 'annotate'; target: string; text: string; id?: string }
  | { op: 'resolve'; annotationId: string }
  | { op: 'propose'; question: string; options: string[]; quorum: number; id?: string }
  | { op: 'vote'; decisionId: string; option: string }
  | { op: 'reject'; decisionId: string }

export type DocOpName = DocOp['op']

/** The entry one operation wrote (an annotate's or a propose's key is the new id). */
export interface WrittenEntry {
  op: DocOpName
  path: RootName
  key: string
}

/**
 * An entry a write depends on. With `vote`, the entry is that participant's vote in decision
 * `key`: only a change of that vote, or of the decision outside its votes, concerns it.
 */
export interface GuardedEntry {
  path: RootName
  key: string
  vote?: string
}

/**
 * Applies `op` to `doc` as participant `by`, in one transaction with `origin`; throws (with a
 * message naming what is wrong) when it cannot be done: an unknown annotation or decision, a
 * closed decision, an option it does not have, an id already taken.
 */
export function applyDocOp(doc: Y.Doc, op: DocOp, by: string, origin?: unknown, now = Date.now()): WrittenEntry {
  switch (op.op) {
    case 'select':
      select(doc, op.memoryId, by, now, origin)
      return { op: op.op, path: ROOTS.selections, key: op.memoryId }
    case 'deselect':
      deselect(doc, op.memoryId, origin)
      return { op: op.op, path: ROOTS.selections, key: op.memoryId }
    case 'explore':
      explore(doc, { memoryId: op.memoryId, by, note: op.note, at: now }, origin)
      return { op: op.op, path: ROOTS.explorationPath, key: op.memoryId }
    case 'annotate': {
      const id = annotate(doc, { target: op.target, author: by, text: op.text, id: op.id ?? randomId(), createdAt: now }, origin)
      return { op: op.op, path: ROOTS.annotations, key: id }
    }
    case 'resolve':
      resolveAnnotation(doc, op.annotationId, origin)
      return { op: op.op, path: ROOTS.annotations, key: op.annotationId }
    case 'propose': {
      const id = propose(doc, { question: op.question, options: op.options, quorum: op.quorum, createdBy: by, id: op.id }, origin)
      return { op: op.op, path: ROOTS.decisions, key: id }
    }
    case 'vote':
      vote(doc, op.decisionId, by, op.option, origin)
      return { op: op.op, path: ROOTS.decisions, key: op.decisionId }
    case 'reject':
      rejectDecision(doc, op.decisionId, origin)
      return { op: op.op, path: ROOTS.decisions, key: op.decisionId }
  }
}

/**
 * The entry `op` writes, when it is known without applying it (not for an annotate or a
 * propose without an id): what an operation that cannot be applied was about.
 */
export function entryOfOp(op: DocOp): WrittenEntry | undefined {
  switch (op.op) {
    case 'select':
    case 'deselect':
      return { op: op.op, path: ROOTS.selections, key: op.memoryId }
    case 'explore':
      return { op: op.op, path: ROOTS.explorationPath, key: op.memoryId }
    case 'annotate':
      return op.id === undefined ? undefined : { op: op.op, path: ROOTS.annotations, key: op.id }
    case 'resolve':
      return { op: op.op, path: ROOTS.annotations, key: op.annotationId }
    case 'propose':
      return op.id === undefined ? undefined : { op: op.op, path: ROOTS.decisions, key: op.id }
    case 'vote':
    case 'reject':
      return { op: op.op, path: ROOTS.decisions, key: op.decisionId }
  }
}

/**
 * The entries a written operation depends on. A step appended to the exploration path
 * overwrites nothing, so `explore` depends on none; a vote depends on the voter's own vote and
 * the decision, not on the others' votes; everything else on the entry it writes.
 */
export function guardedEntries(written: WrittenEntry, by: string): GuardedEntry[] {
  switch (written.op) {
    case 'explore':
      return []
    case 'vote':
      return [{ path: written.path, key: written.key, vote: by }]
    default:
      return [{ path: written.path, key: written.key }]
  }
}
