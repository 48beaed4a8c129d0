/**
 * Where in the session document a Yjs update writes, found the way `summarizeUpdate` finds its
 * `changes` (the struct index over the decoded update and the document, never applying it) but
 * down to the written item: a scoped token's update is checked against these places before it is
 * stored. Unlike the summary, nothing is left out: unknown roots, edits inside entries, and
 * writes the server cannot place all count.
 */
import * as Y from 'yjs'
import type { DecodedUpdate } from './summarizeUpdate.js'
import { createStructIndex, type ItemPath, type StructIndex } from './structIndex.js'

/**
 * One place an update writes: an item inserted, or a live item deleted, at `path`. `path` is
 * undefined when the server cannot tell where the write would land (its parent or neighbour is
 * in neither the document nor the update, or it deletes what the document does not have yet);
 * such writes could later land anywhere, so a scope refuses them.
 */
export interface Touch {
  op: 'insert' | 'delete'
  path: ItemPath | undefined
}

/**
 * The first place `update` writes in `doc` for which `refused` says true, or undefined when
 * there is none. `doc` and `decoded` are only read; the walk stops at the first refusal.
 *
 * @example
 * const outside = findTouch(room.doc, Y.decodeUpdate(update), (t) => t.path?.root !== 'annotations')
 */
export function findTouch(doc: Y.Doc, decoded: DecodedUpdate, refused: (touch: Touch) => boolean): Touch | undefined {
  const { structs } = decoded
  const index = createStructIndex(doc, structs)
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue // GC and Skip structs write nothing anyone sees
    if (struct.id.clock + struct.length <= Y.getState(doc.store, struct.id.client)) continue // the doc has it
    const touch: Touch = { op: 'insert', path: index.pathOf(struct) }
    if (refused(touch)) return touch
  }
  return findDelete(doc, index, decoded, refused)
}

function findDelete(doc: Y.Doc, index: StructIndex, { structs, ds }: DecodedUpdate, refused: (touch: Touch) => boolean): Touch | undefined {
  const brought = new Map<number, number>() // per client, the clock up to which the update brings structs
  for (const struct of structs) {
    const end = struct.id.clock + struct.length
    if (end > (brought.get(struct.id.client) ?? 0)) brought.set(struct.id.client, end)
  }
  for (const [client, ranges] of ds.clients) {
    const known = doc.store.clients.get(client)
    const state = Y.getState(doc.store, client)
    for (const { clock, len } of ranges) {
      const end = clock + len
      // Beyond the doc's state, a delete lands on the update's own items (checked as inserts) or
      // waits for items nobody sent yet, which might be anyone's.
      if (end > Math.max(state, brought.get(client) ?? 0)) {
        const touch: Touch = { op: 'delete', path: undefined }
        if (refused(touch)) return touch
      }
      if (!known || clock >= state) continue
      for (let i = Y.findIndexSS(known, clock); i < known.length && known[i]!.id.clock < end; i++) {
        const struct = known[i]!
        if (!(struct instanceof Y.Item) || struct.deleted) continue // deleting the deleted changes nothing
        const touch: Touch = { op: 'delete', path: index.pathOf(struct) }
        if (refused(touch)) return touch
      }
    }
  }
  return undefined
}
