/**
 * Describes what a Yjs update changes in the session document — which entries of which
 * collection are added, updated or deleted — without applying it: the server records
 * these `changes` in the `doc.update` event it persists before applying the update.
 */
import * as Y from 'yjs'
import { isRecord } from './roots.js'
import { ROOTS, type Change, type RootName } from './schema.js'
import { createStructIndex, type EntryRef, type StructIndex } from './structIndex.js'

const PATH_ORDER: readonly RootName[] = [ROOTS.selections, ROOTS.explorationPath, ROOTS.annotations, ROOTS.decisions]

/** An update as `Y.decodeUpdate` returns it: structs not integrated anywhere, and its delete set. */
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>

type DeleteSet = DecodedUpdate['ds']

/** What the update does to one entry; combined into one op at the end. */
interface Touch {
  path: RootName
  key: string
  /** A new root-level value (a map entry set, an array element inserted). */
  set: boolean
  /** The entry's current value deleted. */
  remove: boolean
  /** Something inside the entry inserted or deleted. */
  nested: boolean
}

/**
 * The session entries `update` (a valid Yjs v1 update: see validateUpdate) touches,
 * relative to `doc`, deduplicated and sorted by collection then key. Unknown roots and
 * structs the doc already has are ignored; `doc` is only read. `decoded`: the update already
 * decoded (nothing here mutates it), to spare a second decode on the server's hot path.
 */
export function summarizeUpdate(doc: Y.Doc, update: Uint8Array, decoded: DecodedUpdate = Y.decodeUpdate(update)): Change[] {
  const { structs, ds } = decoded
  const index = createStructIndex(doc, structs)
  const touches = new Map<string, Touch>()
  const touch = (path: RootName, key: string, kind: 'set' | 'remove' | 'nested'): void => {
    const id = `${path}\u0000${key}`
    const entry = touches.get(id) ?? { path, key, set: false, remove: false, nested: false }
    entry[kind] = true
    touches.set(id, entry)
  }
  for (const struct of structs) {
    if (struct instanceof Y.Item) summarizeInsert(doc, index, ds, struct, touch)
  }
  summarizeDeletes(doc, index, ds, touch)
  return [...touches.values()].map(t => ({ path: t.path, op: opOf(doc, t), key: t.key })).sort(byPathThenKey)
}

type TouchFn = (path: RootName, key: string, kind: 'set' | 'remove' | 'nested') => void

function summarizeInsert(doc: Y.Doc, index: StructIndex, ds: DeleteSet, item: Y.Item, touch: TouchFn): void {
  const known = Y.getState(doc.store, item.id.client)
  if (item.id.clock + item.length <= known) return // the doc has it already
  const entry = index.entryOf(item)
  const path = entry && pathOf(entry)
  if (!entry || !path) return
  if (entry.top === item) {
    // Elements created and deleted within this update never showed: skip them.
    for (let offset = Math.max(0, known - item.id.clock); offset < item.length; offset++) {
      const key = keyOf(path, entry, offset)
      if (key !== undefined && !Y.isDeleted(ds, Y.createID(item.id.client, item.id.clock + offset))) touch(path, key, 'set')
    }
    return
  }
  if (isGone(index, ds, entry.top)) return // an edit inside an entry that no longer exists
  const key = keyOf(path, entry, 0)
  if (key !== undefined) touch(path, key, 'nested')
}

function summarizeDeletes(doc: Y.Doc, index: StructIndex, ds: DeleteSet, touch: TouchFn): void {
  for (const [client, ranges] of ds.clients) {
    const structs = doc.store.clients.get(client)
    const state = Y.getState(doc.store, client)
    if (!structs) continue // deletes of this update's own items: handled as insertions
    for (const { clock, len } of ranges) {
      const end = Math.min(clock + len, state)
      if (clock >= end) continue
      for (let i = Y.findIndexSS(structs, clock); i < structs.length && structs[i]!.id.clock < end; i++) {
        const struct = structs[i]!
        // Already-deleted items: full-state updates repeat the whole delete set.
        if (struct instanceof Y.Item && !struct.deleted) summarizeDelete(index, struct, clock, end, touch)
      }
    }
  }
}

function summarizeDelete(index: StructIndex, item: Y.Item, from: number, end: number, touch: TouchFn): void {
  const entry = index.entryOf(item)
  const path = entry && pathOf(entry)
  if (!entry || !path) return
  if (entry.top !== item) {
    const key = entry.top.deleted ? undefined : keyOf(path, entry, 0)
    if (key !== undefined) touch(path, key, 'nested')
    return
  }
  const first = Math.max(from, item.id.clock) - item.id.clock
  const last = Math.min(end, item.id.clock + item.length) - item.id.clock
  for (let offset = first; offset < last; offset++) {
    const key = keyOf(path, entry, offset)
    if (key !== undefined) touch(path, key, 'remove')
  }
}

function pathOf(entry: EntryRef): RootName | undefined {
  return PATH_ORDER.find(path => path === entry.root)
}

/**
 * The entry's key: a map entry's key; an exploration step's `memoryId`, else its ID
 * (`client:clock`). Writes that do not fit the root's kind (a keyed write into the array,
 * an unkeyed one into a map) are not entries of the schema: undefined.
 */
function keyOf(path: RootName, { sub, top }: EntryRef, offset: number): string | undefined {
  if (path !== ROOTS.explorationPath) return sub ?? undefined
  if (sub !== null) return undefined
  const content = top.content
  if (content instanceof Y.ContentAny || content instanceof Y.ContentJSON) {
    const value: unknown = content.getContent()[offset]
    if (isRecord(value) && typeof value.memoryId === 'string') return value.memoryId
  }
  return `${top.id.client}:${top.id.clock + offset}`
}

function isGone(index: StructIndex, ds: DeleteSet, top: Y.Item): boolean {
  return index.isFromUpdate(top) ? Y.isDeleted(ds, top.id) : top.deleted
}

function opOf(doc: Y.Doc, { path, key, set, remove }: Touch): Change['op'] {
  if (path === ROOTS.explorationPath) return set ? (remove ? 'update' : 'add') : remove ? 'delete' : 'update'
  if (set) return hasLiveEntry(doc, path, key) ? 'update' : 'add'
  return remove ? 'delete' : 'update'
}

function hasLiveEntry(doc: Y.Doc, root: string, key: string): boolean {
  // Read the internals rather than doc.getMap(): that would throw if a client had made
  // the root some other type, and would define roots as a side effect.
  const item = doc.share.get(root)?._map.get(key)
  return item !== undefined && !item.deleted
}

function byPathThenKey(a: Change, b: Change): number {
  const byPath = PATH_ORDER.indexOf(a.path) - PATH_ORDER.indexOf(b.path)
  return byPath !== 0 ? byPath : a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}
