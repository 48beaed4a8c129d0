/**
 * Rich-text fields of the session document: roots beside the four collections that hold a
 * Tiptap / ProseMirror document, a `Y.XmlFragment` (`richText` by this project's convention,
 * Tiptap's `default`, or any other name). A server never defines those roots itself, so its
 * copy knows them only as untyped roots: a root is rich text when what it holds is XML
 * (elements and text nodes). Read here without defining anything on the document.
 */
import * as Y from 'yjs'
import { ROOTS } from './schema.js'

/** The `path` of a `doc.update` change to a rich-text field; its `key` is the fragment's name. */
export const RICH_TEXT = 'richText'

const COLLECTIONS = new Set<string>(Object.values(ROOTS))

/** A rich-text field as plain text. */
export interface RichTextField {
  /** The fragment's name: its root in the document. */
  name: string
  /** Its text without markup: blocks separated by a newline. */
  text: string
}

/** Whether `item` is a node of an XML document: what a fragment's children are. */
export function isXmlNode(item: Y.Item): boolean {
  if (!(item.content instanceof Y.ContentType)) return false
  const type = item.content.type
  return type instanceof Y.XmlElement || type instanceof Y.XmlText || type instanceof Y.XmlHook
}

/** Whether the root `name` may be a rich-text field: not one of the four collections. */
export const mayBeRichText = (name: string): boolean => !COLLECTIONS.has(name)

/** Every rich-text field of `doc` with text in it, by name. */
export function readRichText(doc: Y.Doc): RichTextField[] {
  const fields: RichTextField[] = []
  for (const [name, root] of doc.share) {
    if (!mayBeRichText(name) || root._map.size > 0) continue
    const nodes = liveChildren(root)
    if (nodes.length === 0 || !nodes.every(isXmlNode)) continue
    const text = nodes.map((node) => plainText((node.content as Y.ContentType).type)).join('\n').trim()
    if (text !== '') fields.push({ name, text })
  }
  return fields.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

function liveChildren(type: Y.AbstractType<any>): Y.Item[] {
  const items: Y.Item[] = []
  for (let item = type._start; item !== null; item = item.right) {
    if (!item.deleted) items.push(item)
  }
  return items
}

/** An XML node's text: a text node's characters; an element's children, blocks apart. */
function plainText(type: Y.AbstractType<unknown>): string {
  if (type instanceof Y.XmlText) {
    return (type.toDelta() as Array<{ insert?: unknown }>).map((op) => (typeof op.insert === 'string' ? op.insert : '')).join('')
  }
  if (!(type instanceof Y.XmlElement)) return '' // a hook: no text
  const children = type.toArray()
  // Text nodes of one paragraph run on; elements (list items, a paragraph's line break) stand apart.
  return children.map((child) => plainText(child as Y.AbstractType<unknown>)).join(children.some((c) => c instanceof Y.XmlElement) ? ' ' : '')
}
