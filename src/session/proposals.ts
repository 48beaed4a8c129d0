/**
 * Proposals (SPEC "Agents under control"): document operations kept apart from the live
 * document, shown as a diff against it entry by entry. The shapes the server answers and the
 * SDK types (src/agent re-exports them), and the pure part of the work: a proposal's branch
 * is its operations applied to a copy of a document (`branchOf`), and its diff is that copy
 * read against the original (`diffStates`), with a word diff for annotation text.
 */
import type * as Y from 'yjs'
import type { Actor } from '../vocabulary.js'
import { applyDocOp, type DocOp } from './docOps.js'
import type { StaleEntry } from './history.js'
import { readState } from './readState.js'
import type { Annotation, Decision, PathStep, RootName, Selection, SessionState } from './schema.js'

export type ProposalStatus = 'open' | 'accepted' | 'rejected'

/** One piece of a word diff: text both have, text only the new one has, text only the old one had. */
export type TextPiece = { equal: string } | { insert: string } | { delete: string }

export type Entry = Selection | PathStep | Annotation | Decision

/** One entry the proposal changes, as it is (`before`) and as it would be (`after`). */
export interface DiffEntry {
  path: RootName
  /** The memory id of a selection or a step, the id of an annotation or a decision. */
  key: string
  change: 'added' | 'changed' | 'removed'
  /** An exploration step: its index in the path. */
  index?: number
  before?: Entry
  after?: Entry
  /** A changed annotation whose text differs: the text as a word diff (before → after). */
  text?: TextPiece[]
}

/** An operation that cannot be done on the document the diff is taken against (it is left out of the diff). */
export interface Inapplicable {
  index: number
  message: string
}

/** A proposal as `GET …/proposals/:pid` answers it. */
export interface Proposal {
  /** The id of its `proposal.opened` event. */
  id: string
  title: string
  status: ProposalStatus
  /** Who opened it: its operations are written as this participant (the annotations' author, the voter). */
  by: Actor
  rationale?: string
  /** The session version it was based on: what its author had read. */
  basedOn: number
  /** Where and when `proposal.opened` was recorded. */
  version: number
  position: number
  openedAt: string
  ops: DocOp[]
  /** Who accepted or rejected it, when, and where that was recorded (absent while open). */
  closedBy?: Actor
  closedAt?: string
  closedVersion?: number
  closedPosition?: number
  /**
   * Entries it touches that someone other than its author changed after `basedOn`: while open,
   * as of now; once accepted, as the accept found them (recorded in `proposal.accepted`).
   */
  conflicts: StaleEntry[]
  /**
   * Against the live document while open (what accepting it would change now); once closed,
   * against the document as it was just before it was accepted or rejected.
   */
  diff: DiffEntry[]
  /** Operations that cannot be done on that document (an annotation since deleted, a decision closed). */
  inapplicable: Inapplicable[]
}

/** `POST …/proposals/:pid/accept`'s answer. */
export interface AcceptedProposal {
  id: string
  status: 'accepted'
  /** Where the `doc.update` landed (the `proposal.accepted` event's when the operations changed nothing). */
  version: number
  position: number
  /** The Yjs update stored, base64; null when the operations changed nothing. */
  update: string | null
  conflicts: StaleEntry[]
}

/** `POST …/proposals/:pid/reject`'s answer. */
export interface RejectedProposal {
  id: string
  status: 'rejected'
  /** Where `proposal.rejected` landed. */
  version: number
  position: number
}

/**
 * Applies `ops` to `doc` (a copy: it is changed) as participant `by`, each on its own: one that
 * cannot be done is skipped and reported, the others still apply.
 */
export function branchOf(doc: Y.Doc, ops: readonly DocOp[], by: string, now: number): Inapplicable[] {
  const inapplicable: Inapplicable[] = []
  for (const [index, op] of ops.entries()) {
    try {
      applyDocOp(doc, op, by, undefined, now)
    } catch (error) {
      inapplicable.push({ index, message: error instanceof Error ? error.message : String(error) })
    }
  }
  return inapplicable
}

/** The diff of `ops` applied to `doc` (which is changed: pass a copy), against `doc` as it was. */
export function proposalDiff(doc: Y.Doc, ops: readonly DocOp[], by: string, now: number): { diff: DiffEntry[]; inapplicable: Inapplicable[] } {
  const before = readState(doc)
  const inapplicable = branchOf(doc, ops, by, now)
  return { diff: diffStates(before, readState(doc)), inapplicable }
}

/** Every entry that differs between two states, collection by collection, keys in order. */
export function diffStates(before: SessionState, after: SessionState): DiffEntry[] {
  const diff: DiffEntry[] = []
  diffRecords(diff, 'selections', before.selections, after.selections)
  const steps = Math.max(before.explorationPath.length, after.explorationPath.length)
  for (let index = 0; index < steps; index++) {
    const was = before.explorationPath[index]
    const is = after.explorationPath[index]
    const entry = diffEntry('explorationPath', (is ?? was)!.memoryId, was, is)
    if (entry) diff.push({ ...entry, index })
  }
  diffRecords(diff, 'annotations', before.annotations, after.annotations)
  diffRecords(diff, 'decisions', before.decisions, after.decisions)
  return diff
}

function diffRecords(diff: DiffEntry[], path: RootName, before: Record<string, Entry>, after: Record<string, Entry>): void {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
  for (const key of keys) {
    const entry = diffEntry(path, key, before[key], after[key])
    if (entry) diff.push(entry)
  }
}

function diffEntry(path: RootName, key: string, before: Entry | undefined, after: Entry | undefined): DiffEntry | undefined {
  if (before === undefined && after === undefined) return undefined
  if (before === undefined) return { path, key, change: 'added', after }
  if (after === undefined) return { path, key, change: 'removed', before }
  if (sameJson(before, after)) return undefined
  const entry: DiffEntry = { path, key, change: 'changed', before, after }
  if (path === 'annotations') {
    const was = (before as Annotation).text
    const is = (after as Annotation).text
    if (was !== is) entry.text = wordDiff(was, is)
  }
  return entry
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Above this many word pairs the middle of a word diff is shown as one replacement. */
const MAX_DIFF_CELLS = 1_000_000

/**
 * A word diff of `before` → `after` (words and runs of whitespace as tokens): the common start
 * and end kept, the middle by longest common subsequence (one replacement when it is too long).
 *
 * @example
 * wordDiff('latency doubled', 'p99 latency tripled')
 * // [{ insert: 'p99 ' }, { equal: 'latency ' }, { delete: 'doubled' }, { insert: 'tripled' }]
 */
export function wordDiff(before: string, after: string): TextPiece[] {
  const a = words(before)
  const b = words(after)
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let end = 0
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++
  const pieces: TextPiece[] = []
  const push = (kind: 'equal' | 'insert' | 'delete', text: string) => {
    if (text === '') return
    const last = pieces.at(-1)
    if (last && kind in last) (last as Record<string, string>)[kind] += text
    else pieces.push({ [kind]: text } as TextPiece)
  }
  push('equal', a.slice(0, start).join(''))
  const midA = a.slice(start, a.length - end)
  const midB = b.slice(start, b.length - end)
  if (midA.length * midB.length > MAX_DIFF_CELLS) {
    push('delete', midA.join(''))
    push('insert', midB.join(''))
  } else {
    for (const [kind, text] of lcsDiff(midA, midB)) push(kind, text)
  }
  push('equal', a.slice(a.length - end).join(''))
  return pieces
}

/** Words and the runs of whitespace between them, each a token. */
function words(text: string): string[] {
  return text.match(/\s+|\S+/g) ?? []
}

function lcsDiff(a: string[], b: string[]): Array<['equal' | 'insert' | 'delete', string]> {
  const n = a.length
  const m = b.length
  // lengths[i][j]: the LCS of a[i..] and b[j..], in one flat array.
  const lengths = new Uint32Array((n + 1) * (m + 1))
  const at = (i: number, j: number) => i * (m + 1) + j
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[at(i, j)] = a[i] === b[j] ? lengths[at(i + 1, j + 1)]! + 1 : Math.max(lengths[at(i + 1, j)]!, lengths[at(i, j + 1)]!)
    }
  }
  const out: Array<['equal' | 'insert' | 'delete', string]> = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push(['equal', a[i]!])
      i++
      j++
    } else if (lengths[at(i + 1, j)]! >= lengths[at(i, j + 1)]!) {
      out.push(['delete', a[i++]!])
    } else {
      out.push(['insert', b[j++]!])
    }
  }
  while (i < n) out.push(['delete', a[i++]!])
  while (j < m) out.push(['insert', b[j++]!])
  return out
}
