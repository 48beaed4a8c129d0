/** Yjs client ids for the server's own writes: one the document has never seen, so its structs collide with nobody's. */
import { uint32 } from 'lib0/random'
import type * as Y from 'yjs'

/** A client id `doc` has not seen. */
export function freshClientId(doc: Y.Doc): number {
  for (;;) {
    const id = uint32()
    if (id !== 0 && !doc.store.clients.has(id)) return id
  }
}
