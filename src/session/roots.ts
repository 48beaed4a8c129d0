/**
 * Typed access to the session document's root types, and the tolerant field readers that
 * readState and the write helpers share. Any client may write anything into a Yjs
 * document, so readers check shapes instead of trusting them.
 */
import * as Y from 'yjs'
import { ROOTS, type PathStep, type Selection } from './schema.js'

/** An entry of `annotations` or `decisions`: a Y.Map of fields. */
export type EntryMap = Y.Map<unknown>

export const getSelections = (doc: Y.Doc): Y.Map<Selection> => doc.getMap<Selection>(ROOTS.selections)
export const getExplorationPath = (doc: Y.Doc): Y.Array<PathStep> => doc.getArray<PathStep>(ROOTS.explorationPath)
export const getAnnotations = (doc: Y.Doc): Y.Map<unknown> => doc.getMap<unknown>(ROOTS.annotations)
export const getDecisions = (doc: Y.Doc): Y.Map<unknown> => doc.getMap<unknown>(ROOTS.decisions)

export type Fields = Record<string, unknown>

/**
 * An entry's fields as a plain record: a Y.Map's own values (nested Yjs types kept as
 * they are), or a plain object written by a client as JSON; undefined for anything else.
 */
export function fieldsOf(value: unknown): Fields | undefined {
  if (value instanceof Y.Map) return Object.fromEntries(value.entries())
  return isRecord(value) ? value : undefined
}

export function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Y.AbstractType)
}

/** A Y.Text or a plain string as a string. */
export function textOf(value: unknown): string | undefined {
  if (value instanceof Y.Text) return value.toString()
  return typeof value === 'string' ? value : undefined
}

/** A Y.Array or a plain array, keeping only its strings. */
export function stringsOf(value: unknown): string[] {
  const items = value instanceof Y.Array ? value.toArray() : Array.isArray(value) ? value : []
  return items.filter((item): item is string => typeof item === 'string')
}

/** A Y.Map or a plain object, keeping only its string values, keys sorted. */
export function stringRecordOf(value: unknown): Record<string, string> {
  const entries = value instanceof Y.Map ? [...value.entries()] : isRecord(value) ? Object.entries(value) : []
  return sortedRecord(entries.filter((entry): entry is [string, string] => typeof entry[1] === 'string'))
}

/** Sorted keys make reads identical on every replica, whatever order entries arrived in. */
export function sortedRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

export const stringField = (fields: Fields, name: string): string | undefined =>
  typeof fields[name] === 'string' ? (fields[name] as string) : undefined

export const numberField = (fields: Fields, name: string): number | undefined =>
  typeof fields[name] === 'number' && Number.isFinite(fields[name]) ? (fields[name] as number) : undefined
