/**
 * Write helpers for selections, the exploration path and annotations. Each is one Yjs
 * transaction carrying the optional `origin`, so observers see one change per call.
 */
import * as Y from 'yjs'
import { randomId } from './randomId.js'
import { getAnnotations, getExplorationPath, getSelections } from './roots.js'
import type { PathStep } from './schema.js'

/** Marks `memoryId` selected by participant `by` (replacing an earlier selection of it). */
export function select(doc: Y.Doc, memoryId: string, by: string, at: number = Date.now(), origin?: unknown): void {
  requireId(memoryId, 'memoryId')
  doc.transact(() => getSelections(doc).set(memoryId, { by, at }), origin)
}

export function deselect(doc: Y.Doc, memoryId: string, origin?: unknown): void {
  doc.transact(() => getSelections(doc).delete(memoryId), origin)
}

export interface ExploreStep {
  memoryId: string
  by: string
  note?: string
  /** Epoch ms; default now. */
  at?: number
}

/** Appends a step to the exploration path. */
export function explore(doc: Y.Doc, { memoryId, by, note, at = Date.now() }: ExploreStep, origin?: unknown): void {
  requireId(memoryId, 'memoryId')
  const step: PathStep = note === undefined ? { memoryId, by, at } : { memoryId, by, at, note }
  doc.transact(() => getExplorationPath(doc).push([step]), origin)
}

export interface NewAnnotation {
  target: string
  author: string
  text: string
  /** Default: a random uuid. */
  id?: string
  /** Epoch ms; default now. */
  createdAt?: number
}

/** Adds an annotation on memory `target`; returns its id. */
export function annotate(doc: Y.Doc, annotation: NewAnnotation, origin?: unknown): string {
  const { target, author, text, id = randomId(), createdAt = Date.now() } = annotation
  requireId(target, 'target')
  requireId(id, 'annotation id')
  const annotations = getAnnotations(doc)
  if (annotations.has(id)) throw new Error(`Annotation "${id}" already exists; pass another id or omit it`)
  doc.transact(() => {
    const entry = new Y.Map<unknown>()
    entry.set('id', id)
    entry.set('target', target)
    entry.set('author', author)
    entry.set('createdAt', createdAt)
    entry.set('text', new Y.Text(text))
    entry.set('resolved', false)
    annotations.set(id, entry)
  }, origin)
  return id
}

/** Marks annotation `id` resolved. */
export function resolveAnnotation(doc: Y.Doc, id: string, origin?: unknown): void {
  const entry = getAnnotations(doc).get(id)
  if (!(entry instanceof Y.Map)) throw new Error(`Unknown annotation "${id}"`)
  doc.transact(() => entry.set('resolved', true), origin)
}

/** The live Y.Text of annotation `id`, for collaborative editing of its text. */
export function annotationText(doc: Y.Doc, id: string): Y.Text | undefined {
  const entry = getAnnotations(doc).get(id)
  const text = entry instanceof Y.Map ? entry.get('text') : undefined
  return text instanceof Y.Text ? text : undefined
}

export function requireId(value: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${what} must be a non-empty string`)
}
