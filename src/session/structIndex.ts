/**
 * Finding items by ID across a decoded (not applied) update and a document, and walking
 * from any item up to the root entry it belongs to. Used by summarizeUpdate, which must
 * describe an update before the server applies it.
 */
import * as Y from 'yjs'

/** Where an item lives: directly in a root type, or in a type item; under key `sub` of a map (null in a sequence). */
export type Parent = { root: string; sub: string | null } | { item: Y.Item; sub: string | null }

/** The root-level item an item belongs to, and where that one sits. */
export interface EntryRef {
  root: string
  sub: string | null
  top: Y.Item
  /**
   * The items between: from the item itself up to the one directly inside `top`'s type,
   * empty when the item is `top`. `within.at(-1).parentSub` names the entry's field it is in.
   */
  within: Y.Item[]
}

/** Where an item sits, from the root down: the keys of the map entries on the way (null: a sequence position). */
export interface ItemPath {
  root: string
  /** `subs[0]` is the root-level entry's key; the last is the item's own. */
  subs: (string | null)[]
}

export interface StructIndex {
  /** The item holding `id`, preferring the document's integrated one. */
  find(id: Y.ID): Y.Item | undefined
  isFromUpdate(item: Y.Item): boolean
  entryOf(item: Y.Item): EntryRef | undefined
  /**
   * The map key an item is stored under (its `parentSub`). An update item that only names a
   * neighbour (a map value overwriting an earlier one) carries none: it shares the neighbour's.
   */
  subOf(item: Y.Item): string | null
  /** The item's whole path (capability checks need more than its entry); undefined when it cannot be placed. */
  pathOf(item: Y.Item): ItemPath | undefined
}

export function createStructIndex(doc: Y.Doc, structs: ReadonlyArray<Y.Item | Y.GC | Y.Skip>): StructIndex {
  const updateItems = new Map<number, Y.Item[]>() // per client, in clock order as decoded
  const fromUpdate = new Set<Y.Item>()
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue
    fromUpdate.add(struct)
    const list = updateItems.get(struct.id.client) ?? []
    list.push(struct)
    updateItems.set(struct.id.client, list)
  }
  const rootNames = new Map<unknown, string>()
  for (const [name, type] of doc.share) rootNames.set(type, name)
  const parents = new Map<Y.Item, Parent | undefined>()

  const find = (id: Y.ID): Y.Item | undefined => findInDoc(doc, id) ?? findInList(updateItems.get(id.client), id.clock)

  /** An item's parent; update items that only name a neighbour share that neighbour's parent. */
  const parentOf = (item: Y.Item): Parent | undefined => {
    // Walk the neighbour chain iteratively (it can be as long as the update) and guard
    // against cycles, which a crafted update across two clients can contain.
    const chain = new Set<Y.Item>()
    let current: Y.Item | undefined = item
    let parent: Parent | undefined
    while (current !== undefined && !chain.has(current)) {
      if (parents.has(current)) { parent = parents.get(current); break }
      chain.add(current)
      const direct = directParent(current)
      if (direct !== 'neighbour') { parent = direct; break }
      current = (current.origin && find(current.origin)) || (current.rightOrigin && find(current.rightOrigin)) || undefined
    }
    for (const linked of chain) parents.set(linked, parent)
    return parent
  }

  const directParent = (item: Y.Item): Parent | undefined | 'neighbour' => {
    const parent: unknown = item.parent
    if (!fromUpdate.has(item)) {
      if (!(parent instanceof Y.AbstractType)) return undefined
      if (parent._item !== null) return { item: parent._item, sub: item.parentSub }
      const root = rootNames.get(parent)
      return root === undefined ? undefined : { root, sub: item.parentSub }
    }
    // Decoded updates name root parents by string (yjs' decodeUpdate), others by ID.
    if (typeof parent === 'string') return { root: parent, sub: item.parentSub }
    if (parent instanceof Y.ID) {
      const found = find(parent)
      return found ? { item: found, sub: item.parentSub } : undefined
    }
    return 'neighbour'
  }

  const entryOf = (item: Y.Item): EntryRef | undefined => {
    const seen = new Set<Y.Item>()
    const within: Y.Item[] = []
    let top = item
    let parent = parentOf(top)
    while (parent !== undefined && 'item' in parent) {
      if (seen.has(parent.item)) return undefined
      seen.add(top)
      within.push(top)
      top = parent.item
      parent = parentOf(top)
    }
    return parent && { root: parent.root, sub: parent.sub, top, within }
  }

  const subOf = (item: Y.Item): string | null => {
    const seen = new Set<Y.Item>()
    let current: Y.Item | undefined = item
    while (current !== undefined && !seen.has(current)) {
      if (current.parentSub !== null || !fromUpdate.has(current) || directParent(current) !== 'neighbour') return current.parentSub
      seen.add(current)
      current = (current.origin && find(current.origin)) || (current.rightOrigin && find(current.rightOrigin)) || undefined
    }
    return null
  }

  const pathOf = (item: Y.Item): ItemPath | undefined => {
    const seen = new Set<Y.Item>()
    const subs: (string | null)[] = []
    let parent = parentOf(item)
    while (parent !== undefined && 'item' in parent) {
      if (seen.has(parent.item)) return undefined
      seen.add(parent.item)
      subs.push(parent.sub)
      parent = parentOf(parent.item)
    }
    if (parent === undefined) return undefined
    subs.push(parent.sub)
    return { root: parent.root, subs: subs.reverse() }
  }

  return { find, isFromUpdate: item => fromUpdate.has(item), entryOf, subOf, pathOf }
}

/** The document's item holding `id`; undefined when unknown to it or garbage-collected. */
function findInDoc(doc: Y.Doc, id: Y.ID): Y.Item | undefined {
  if (id.clock >= Y.getState(doc.store, id.client)) return undefined
  const structs = doc.store.clients.get(id.client)!
  const struct = structs[Y.findIndexSS(structs, id.clock)]
  return struct instanceof Y.Item ? struct : undefined
}

function findInList(items: Y.Item[] | undefined, clock: number): Y.Item | undefined {
  if (!items) return undefined
  let low = 0
  let high = items.length - 1
  while (low <= high) {
    const mid = (low + high) >> 1
    const item = items[mid]!
    if (clock < item.id.clock) high = mid - 1
    else if (clock >= item.id.clock + item.length) low = mid + 1
    else return item
  }
  return undefined
}
