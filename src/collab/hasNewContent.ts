/**
 * Whether a Yjs update would change a document. Reconnecting clients answer the server's
 * sync step 1 with a step 2 that repeats their whole delete set (and sometimes structs the
 * server has), and viewers answer it with an empty one: those must not become events.
 */
import * as Y from 'yjs'
import type { DecodedUpdate } from '../session/summarizeUpdate.js'

/**
 * True when `update` (a valid Yjs v1 update) holds a struct beyond `doc`'s state vector,
 * or deletes something `doc` has not deleted (or does not know yet). `doc` and `decoded`
 * (the update already decoded, when the caller has it) are only read.
 */
export function hasNewContent(doc: Y.Doc, update: Uint8Array, decoded: DecodedUpdate = Y.decodeUpdate(update)): boolean {
  const { structs, ds } = decoded
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue
    if (struct.id.clock + struct.length > Y.getState(doc.store, struct.id.client)) return true
  }
  for (const [client, ranges] of ds.clients) {
    const known = doc.store.clients.get(client)
    const state = Y.getState(doc.store, client)
    for (const { clock, len } of ranges) {
      const end = clock + len
      // A delete of something the doc has not seen yet: yjs would keep it pending.
      if (end > state || !known) return true
      for (let i = Y.findIndexSS(known, clock); i < known.length && known[i]!.id.clock < end; i++) {
        const struct = known[i]!
        if (struct instanceof Y.Item && !struct.deleted) return true
      }
    }
  }
  return false
}
