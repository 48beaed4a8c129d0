/**
 * The difference between two states of the session document, entry by entry: what a dry-run
 * revert answers and what a proposal shows against the live document (SPEC "Agents under
 * control": `diff: [{ path, key, change, before?, after? }]`). Entries are read as `readState`
 * reads them; exploration steps are told apart by their Yjs ids, since steps of one memory
 * share a key (a step restored anew has a new id: it is `added`, the old one stays `removed`).
 */
import type * as Y from 'yjs'
import { readPathSteps, readState } from './readState.js'
import { ROOTS, type RootName } from './schema.js'

export type DiffChange = 'added' | 'changed' | 'removed'

export interface DiffEntry {
  path: RootName
  key: string
  change: DiffChange
  /** An exploration step: its Yjs id (`client:clock`). */
  step?: string
  /** The entry as it was (absent when added) and as it is (absent when removed), as `state` shows it. */
  before?: unknown
  after?: unknown
}

/** A document's entries by identity, each with its path, key and plain value. */
export type DocumentEntries = Map<string, { path: RootName; key: string; step?: string; value: unknown }>

/** The entries of `doc` now: read it before a change and after, then `diffEntries`. */
export function entriesOf(doc: Y.Doc): DocumentEntries {
  const state = readState(doc)
  const entries: DocumentEntries = new Map()
  for (const [key, value] of Object.entries(state.selections)) entries.set(`s\u0000${key}`, { path: ROOTS.selections, key, value })
  for (const { step, value } of readPathSteps(doc)) {
    entries.set(`p\u0000${step}`, { path: ROOTS.explorationPath, key: value.memoryId, step, value })
  }
  for (const [key, value] of Object.entries(state.annotations)) entries.set(`a\u0000${key}`, { path: ROOTS.annotations, key, value })
  for (const [key, value] of Object.entries(state.decisions)) entries.set(`d\u0000${key}`, { path: ROOTS.decisions, key, value })
  return entries
}

/** What changed from `before` to `after`, in the order of the document's table (selections, path, annotations, decisions), then by key. */
export function diffEntries(before: DocumentEntries, after: DocumentEntries): DiffEntry[] {
  const out: DiffEntry[] = []
  for (const [id, was] of before) {
    const now = after.get(id)
    if (!now) out.push(entry(was, 'removed', { before: was.value }))
    else if (!sameJson(was.value, now.value)) out.push(entry(was, 'changed', { before: was.value, after: now.value }))
  }
  for (const [id, now] of after) if (!before.has(id)) out.push(entry(now, 'added', { after: now.value }))
  const order: RootName[] = [ROOTS.selections, ROOTS.explorationPath, ROOTS.annotations, ROOTS.decisions]
  return out.sort((x, y) => order.indexOf(x.path) - order.indexOf(y.path) || compare(x.key, y.key) || compare(x.step ?? '', y.step ?? ''))
}

/**
 * @example
 * const diff = diffDocuments(live, branch) // [{ path: 'selections', key: 'm1', change: 'added', after: { by, at } }]
 */
export function diffDocuments(before: Y.Doc, after: Y.Doc): DiffEntry[] {
  return diffEntries(entriesOf(before), entriesOf(after))
}

function entry(
  { path, key, step }: { path: RootName; key: string; step?: string }, change: DiffChange, values: { before?: unknown; after?: unknown },
): DiffEntry {
  return { path, key, change, ...(step !== undefined ? { step } : {}), ...values }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** readState's values are plain JSON with sorted keys, so their JSON compares them. */
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)
