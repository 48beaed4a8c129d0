/**
 * Taking one run's document changes back, keeping everyone else's (SPEC "Agents under
 * control", `…/runs/:run/revert`). Pure Yjs: the document is rebuilt from a base state and
 * the log's updates in order, the run's applied under an origin a `Y.UndoManager` tracks,
 * everybody else's under another; undoing what it captured yields one update that removes
 * what the run inserted, restores what it deleted and puts back the map values it replaced.
 *
 * Yjs decides what "keeping later edits" means, entry by entry:
 * - a map value the run wrote that someone else overwrote later keeps the later value (the
 *   run's value is gone already; the one before it is not restored over the later one);
 * - array and text items others inserted around the run's stay where they are;
 * - an entry the run created goes with everything in it, edits others made inside it too
 *   (their votes on the run's decision, their typing in the run's annotation): they were
 *   edits of the run's entry. The caller names such entries (`touchedByOthers` in the
 *   revert route) so that nobody is surprised.
 */
import * as Y from 'yjs'
import { freshClientId } from './clientIds.js'
import { diffEntries, entriesOf, type DiffEntry } from './diff.js'
import { getAnnotations, getDecisions, getExplorationPath, getSelections } from './roots.js'

export interface AttributedUpdate {
  update: Uint8Array
  /** Made by the run being reverted. */
  inRun: boolean
}

export interface RevertOutcome {
  /** The update that reverts the run, made under a client id the document never saw; null when it changes nothing. */
  update: Uint8Array | null
  /** The entries the update changes, as `diffDocuments` states them. */
  diff: DiffEntry[]
  /** How many of the updates were the run's, and how many of those yjs could not apply. */
  runUpdates: number
  skipped: number
}

/** The origins the rebuilt document's transactions carry. */
const RUN = Symbol('run')
const OTHERS = Symbol('others')

/**
 * Rebuilds the document from `base` (an encoded state holding none of the run's changes, or
 * null) and `updates` (everything after it, in log order), then reverts the run's changes.
 * An update yjs refuses is skipped, as loading the session skips it.
 *
 * @example
 * const { update, diff } = revertUpdates(null, [{ update: u1, inRun: false }, { update: u2, inRun: true }])
 */
export function revertUpdates(base: Uint8Array | null, updates: Iterable<AttributedUpdate>): RevertOutcome {
  // No garbage collection: what the run deleted must still be there to be restored.
  const doc = new Y.Doc({ gc: false })
  try {
    if (base) Y.applyUpdate(doc, base, OTHERS)
    const scope = [getSelections(doc), getExplorationPath(doc), getAnnotations(doc), getDecisions(doc)]
    // One capture for the whole run (no timeout splits it): what it made and then deleted
    // itself is never restored, and the undo is one transaction.
    const undo = new Y.UndoManager(scope, { trackedOrigins: new Set([RUN]), captureTimeout: Number.MAX_SAFE_INTEGER })
    // Map values others wrote concurrently with the run's and lost to them (Yjs deletes the
    // loser as it arrives, in nobody's delete set): without the run they would stand.
    const shadowed: Y.Item[] = []
    const noteShadowed = (transaction: Y.Transaction) => {
      if (transaction.origin !== OTHERS) return
      Y.iterateDeletedStructs(transaction, transaction.deleteSet, (struct) => {
        const born = (transaction.beforeState.get(struct.id.client) ?? 0) <= struct.id.clock
        if (born && struct instanceof Y.Item && struct.parentSub !== null && struct.right !== null) shadowed.push(struct)
      })
    }
    doc.on('afterTransaction', noteShadowed)
    let runUpdates = 0
    let skipped = 0
    for (const { update, inRun } of updates) {
      // One transaction per update: a value born deleted in one of others' is one the run's shadowed.
      if (inRun) runUpdates += 1
      try {
        Y.applyUpdate(doc, update, inRun ? RUN : OTHERS)
      } catch {
        // loadDocument skips it too.
        if (inRun) skipped += 1
      }
    }
    doc.off('afterTransaction', noteShadowed)
    const runItems = undo.undoStack.flatMap((item) => [item.insertions])
    const before = entriesOf(doc)
    // The revert's structs are new: under a client id nobody has used.
    doc.clientID = freshClientId(doc)
    const made: Uint8Array[] = []
    const take = (u: Uint8Array) => void made.push(u)
    doc.on('update', take)
    doc.transact(() => {
      while (undo.canUndo()) undo.undo()
      restoreShadowed(shadowed, runItems)
    }, undo)
    doc.off('update', take)
    undo.destroy()
    const update = made.length === 0 ? null : made.length === 1 ? made[0]! : Y.mergeUpdates(made)
    return { update, diff: update ? diffEntries(before, entriesOf(doc)) : [], runUpdates, skipped }
  } finally {
    doc.destroy()
  }
}

/**
 * Puts back each shadowed value whose key the undo left empty, when only the run's values
 * stood to its right: the value its writer set, as it was. (A shadowed Yjs type, a whole
 * entry two writers created under one key at once, is not copied: it stays lost to the run's.)
 */
function restoreShadowed(shadowed: Y.Item[], runItems: Array<Y.UndoManager['undoStack'][number]['insertions']>): void {
  const byRun = (item: Y.Item) => runItems.some((ds) => Y.isDeleted(ds, item.id))
  for (const item of shadowed) {
    const parent = item.parent as Y.AbstractType<unknown>
    const key = item.parentSub!
    if (parent._item?.deleted || byRun(item)) continue
    const current = parent._map.get(key)
    if (current && !current.deleted) continue
    let right = item.right
    while (right !== null && byRun(right)) right = right.right
    if (right !== null || item.content instanceof Y.ContentType) continue
    // The newest of the values, should Yjs have merged several of its writer's into one item.
    const value = item.content.getContent().at(-1)
    if (parent instanceof Y.Map) parent.set(key, value)
  }
}
