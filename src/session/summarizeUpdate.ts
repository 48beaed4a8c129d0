/**
 * Describes what a Yjs update changes in the session document — which entries of which
 * collection are added, updated or deleted — without applying it: the server records
 * these `changes` in the `doc.update` event it persists before applying the update. Beyond
 * the entry, a change names the step (exploration path), the fields (an update inside an
 * annotation or decision) and the votes it touched, which blame and the stale-write guard read.
 * An edit of a rich-text field (a Tiptap document beside the collections) is one change per
 * field, `{ path: 'richText', op: 'update', key: <fragment name> }`, after the collections'.
 */
import * as Y from 'yjs'
import { isRecord } from './roots.js'
import { isXmlNode, mayBeRichText, RICH_TEXT } from './richText.js'
import { ROOTS, type Change, type ChangeOp, type DocChange, type RichTextChange, type RootName, type VoteChange } from './schema.js'
import { createStructIndex, type EntryRef, type StructIndex } from './structIndex.js'

const PATH_ORDER: readonly RootName[] = [ROOTS.selections, ROOTS.explorationPath, ROOTS.annotations, ROOTS.decisions]

/** An update as `Y.decodeUpdate` returns it: structs not integrated anywhere, and its delete set. */
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>

type DeleteSet = DecodedUpdate['ds']

type TouchKind = 'set' | 'remove' | 'nested'

/** What the update does to one entry (or one vote); combined into one op at the end. */
interface Marks {
  /** A new value (a map entry set, an array element inserted). */
  set: boolean
  /** The current value deleted. */
  remove: boolean
  /** Something inside it inserted or deleted. */
  nested: boolean
}

interface Touch extends Marks {
  path: RootName
  key: string
  step?: string
  fields: Set<string>
  /** By voter; `live`: the decision's votes map held a vote of theirs before the update. */
  votes: Map<string, Marks & { live: boolean }>
}

/** Where inside an entry a nested edit lands. */
interface Detail {
  step?: string
  field?: string
  vote?: { voter: string; kind: TouchKind; live: boolean }
}

type TouchFn = (path: RootName, key: string, kind: TouchKind, detail?: Detail) => void

/** Notes an edit of the rich-text field `name`. */
type RichTextFn = (name: string) => void

const marks = (): Marks => ({ set: false, remove: false, nested: false })

/**
 * The session entries `update` (a valid Yjs v1 update: see validateUpdate) touches,
 * relative to `doc`, deduplicated and sorted by collection then key (then step). Unknown roots and
 * structs the doc already has are ignored; `doc` is only read. `decoded`: the update already
 * decoded (nothing here mutates it), to spare a second decode on the server's hot path.
 */
export function summarizeUpdate(doc: Y.Doc, update: Uint8Array, decoded: DecodedUpdate = Y.decodeUpdate(update)): DocChange[] {
  const { structs, ds } = decoded
  const index = createStructIndex(doc, structs)
  const touches = new Map<string, Touch>()
  const touch: TouchFn = (path, key, kind, detail = {}) => {
    const id = `${path}\u0000${key}\u0000${detail.step ?? ''}`
    let entry = touches.get(id)
    if (!entry) {
      entry = { path, key, ...marks(), fields: new Set(), votes: new Map() }
      if (detail.step !== undefined) entry.step = detail.step
      touches.set(id, entry)
    }
    entry[kind] = true
    if (detail.field !== undefined) entry.fields.add(detail.field)
    if (detail.vote) {
      const vote = entry.votes.get(detail.vote.voter) ?? { ...marks(), live: detail.vote.live }
      vote[detail.vote.kind] = true
      entry.votes.set(detail.vote.voter, vote)
    }
  }
  const richText = new Set<string>()
  const edited: RichTextFn = (name) => void richText.add(name)
  for (const struct of structs) {
    if (struct instanceof Y.Item) summarizeInsert(doc, index, ds, struct, touch, edited)
  }
  summarizeDeletes(doc, index, ds, touch, edited)
  const fields: RichTextChange[] = [...richText].sort().map((key) => ({ path: RICH_TEXT, op: 'update', key }))
  return [...[...touches.values()].map(t => changeOf(doc, t)).sort(byPathThenKey), ...fields]
}

/** Whether an item whose entry is in no collection edits a rich-text field: its root holds XML, the item is inside. */
function inRichText(entry: EntryRef): boolean {
  return entry.sub === null && mayBeRichText(entry.root) && isXmlNode(entry.top)
}

function changeOf(doc: Y.Doc, t: Touch): Change {
  const change: Change = { path: t.path, op: opOf(doc, t), key: t.key }
  if (t.step !== undefined) change.step = t.step
  if (change.op === 'update' && t.fields.size > 0) change.fields = [...t.fields].sort()
  if (t.votes.size > 0) {
    const votes: VoteChange[] = []
    for (const [key, v] of t.votes) votes.push({ key, op: v.set ? (v.live ? 'update' : 'add') : v.remove ? 'delete' : 'update' })
    change.votes = votes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }
  return change
}

function summarizeInsert(doc: Y.Doc, index: StructIndex, ds: DeleteSet, item: Y.Item, touch: TouchFn, edited: RichTextFn): void {
  const known = Y.getState(doc.store, item.id.client)
  if (item.id.clock + item.length <= known) return // the doc has it already
  const entry = index.entryOf(item)
  const path = entry && pathOf(entry)
  if (entry && !path && inRichText(entry)) {
    // Skipped like the collections' entries: what was created and deleted within the update, or lies in a deleted node.
    if (!isGone(index, ds, entry.top) && !Y.isDeleted(ds, item.id)) edited(entry.root)
    return
  }
  if (!entry || !path) return
  if (entry.top === item) {
    // Elements created and deleted within this update never showed: skip them.
    for (let offset = Math.max(0, known - item.id.clock); offset < item.length; offset++) {
      const key = keyOf(path, entry, offset)
      if (key !== undefined && !Y.isDeleted(ds, Y.createID(item.id.client, item.id.clock + offset))) {
        touch(path, key, 'set', { step: stepOf(path, entry, offset) })
      }
    }
    return
  }
  if (isGone(index, ds, entry.top)) return // an edit inside an entry that no longer exists
  const key = keyOf(path, entry, 0)
  if (key === undefined) return
  // A vote cast and taken back within this update never showed.
  const vote = Y.isDeleted(ds, item.id) ? undefined : voteOf(index, path, entry, 'set')
  touch(path, key, 'nested', { step: stepOf(path, entry, 0), field: fieldOf(index, entry), vote })
}

function summarizeDeletes(doc: Y.Doc, index: StructIndex, ds: DeleteSet, touch: TouchFn, edited: RichTextFn): void {
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
        if (struct instanceof Y.Item && !struct.deleted) summarizeDelete(index, struct, clock, end, touch, edited)
      }
    }
  }
}

function summarizeDelete(index: StructIndex, item: Y.Item, from: number, end: number, touch: TouchFn, edited: RichTextFn): void {
  const entry = index.entryOf(item)
  const path = entry && pathOf(entry)
  if (entry && !path && inRichText(entry)) {
    if (entry.top === item || !entry.top.deleted) edited(entry.root)
    return
  }
  if (!entry || !path) return
  if (entry.top !== item) {
    const key = entry.top.deleted ? undefined : keyOf(path, entry, 0)
    if (key !== undefined) {
      touch(path, key, 'nested', { step: stepOf(path, entry, 0), field: fieldOf(index, entry), vote: voteOf(index, path, entry, 'remove') })
    }
    return
  }
  const first = Math.max(from, item.id.clock) - item.id.clock
  const last = Math.min(end, item.id.clock + item.length) - item.id.clock
  for (let offset = first; offset < last; offset++) {
    const key = keyOf(path, entry, offset)
    if (key !== undefined) touch(path, key, 'remove', { step: stepOf(path, entry, offset) })
  }
}

/** The field of the entry (a Y.Map) that a nested edit is in: the key of the item directly inside it. */
function fieldOf(index: StructIndex, entry: EntryRef): string | undefined {
  const field = entry.within.at(-1)
  return (field && index.subOf(field)) ?? undefined
}

/**
 * A nested edit of a decision's `votes` map: whose vote, and whether it is the vote's value
 * itself being set or removed (`kind`) or something inside it (`nested`).
 */
function voteOf(index: StructIndex, path: RootName, { within }: EntryRef, kind: TouchKind): Detail['vote'] {
  if (path !== ROOTS.decisions || within.length < 2) return undefined
  const votes = within.at(-1)!
  const voter = index.subOf(within.at(-2)!)
  if (index.subOf(votes) !== 'votes' || voter === null) return undefined
  return { voter, kind: within.length === 2 ? kind : 'nested', live: hasLiveVote(index, votes, voter) }
}

/** Whether the votes map (when the doc has it) holds a vote of `voter` before the update. */
function hasLiveVote(index: StructIndex, votes: Y.Item, voter: string): boolean {
  if (index.isFromUpdate(votes) || !(votes.content instanceof Y.ContentType)) return false
  const current = votes.content.type._map.get(voter)
  return current !== undefined && !current.deleted
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

/** An exploration step's Yjs id, `client:clock`; undefined for the other collections. */
function stepOf(path: RootName, { top }: EntryRef, offset: number): string | undefined {
  return path === ROOTS.explorationPath ? `${top.id.client}:${top.id.clock + offset}` : undefined
}

function isGone(index: StructIndex, ds: DeleteSet, top: Y.Item): boolean {
  return index.isFromUpdate(top) ? Y.isDeleted(ds, top.id) : top.deleted
}

function opOf(doc: Y.Doc, { path, key, set, remove }: Touch): ChangeOp {
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
  if (byPath !== 0) return byPath
  if (a.key !== b.key) return a.key < b.key ? -1 : 1
  const [x, y] = [a.step ?? '', b.step ?? '']
  return x < y ? -1 : x > y ? 1 : 0
}
