/**
 * Reads the session document as plain JSON (SPEC `state`): annotation text as a string,
 * decisions' options and votes as an array and an object. Entries that do not have the
 * schema's shape (any client can write anything) are left out rather than failing the read.
 */
import type * as Y from 'yjs'
import {
  fieldsOf, getAnnotations, getDecisions, getExplorationPath, getSelections, numberField, sortedRecord,
  stringField, stringRecordOf, stringsOf, textOf,
} from './roots.js'
import type { Annotation, Decision, DecisionStatus, PathStep, Selection, SessionState } from './schema.js'

export function readState(doc: Y.Doc): SessionState {
  return {
    selections: readEntries(getSelections(doc).entries(), readSelection),
    explorationPath: getExplorationPath(doc).toArray().map(readPathStep).filter(isDefined),
    annotations: readEntries(getAnnotations(doc).entries(), readAnnotation),
    decisions: readEntries(getDecisions(doc).entries(), readDecision),
  }
}

function readEntries<T>(
  source: Iterable<[string, unknown]>, read: (value: unknown, key: string) => T | undefined,
): Record<string, T> {
  const entries: Array<[string, T]> = []
  for (const [key, value] of source) {
    const entry = read(value, key)
    if (entry !== undefined) entries.push([key, entry])
  }
  return sortedRecord(entries)
}

function readSelection(value: unknown): Selection | undefined {
  const fields = fieldsOf(value)
  const by = fields && stringField(fields, 'by')
  const at = fields && numberField(fields, 'at')
  return by !== undefined && at !== undefined ? { by, at } : undefined
}

export function readPathStep(value: unknown): PathStep | undefined {
  const fields = fieldsOf(value)
  if (!fields) return undefined
  const memoryId = stringField(fields, 'memoryId')
  const by = stringField(fields, 'by')
  const at = numberField(fields, 'at')
  if (memoryId === undefined || by === undefined || at === undefined) return undefined
  const note = stringField(fields, 'note')
  return note === undefined ? { memoryId, by, at } : { memoryId, by, at, note }
}

/** The entry's key is its id: lookups go by key, so a differing `id` field loses. */
function readAnnotation(value: unknown, key: string): Annotation | undefined {
  const fields = fieldsOf(value)
  if (!fields) return undefined
  const target = stringField(fields, 'target')
  const author = stringField(fields, 'author')
  if (target === undefined || author === undefined) return undefined
  return {
    id: key,
    target,
    author,
    createdAt: numberField(fields, 'createdAt') ?? 0,
    text: textOf(fields.text) ?? '',
    resolved: fields.resolved === true,
  }
}

const STATUSES: readonly DecisionStatus[] = ['open', 'accepted', 'rejected']

export function readDecision(value: unknown, key: string): Decision | undefined {
  const fields = fieldsOf(value)
  if (!fields) return undefined
  const question = stringField(fields, 'question')
  const quorum = numberField(fields, 'quorum')
  const status = STATUSES.find(s => s === fields.status)
  if (question === undefined || quorum === undefined || status === undefined) return undefined
  const decision: Decision = {
    id: key,
    question,
    options: stringsOf(fields.options),
    votes: stringRecordOf(fields.votes),
    quorum,
    status,
    createdBy: stringField(fields, 'createdBy') ?? '',
  }
  const outcome = stringField(fields, 'outcome')
  if (outcome !== undefined) decision.outcome = outcome
  return decision
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined
}

/** The steps of the exploration path that `readState` lists, in its order, each with its Yjs id (`client:clock`). */
export function readPathSteps(doc: Y.Doc): Array<{ step: string; value: PathStep }> {
  const steps: Array<{ step: string; value: PathStep }> = []
  for (let item = getExplorationPath(doc)._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    const content = item.content.getContent()
    for (let i = 0; i < content.length; i++) {
      const value = readPathStep(content[i])
      if (value) steps.push({ step: `${item.id.client}:${item.id.clock + i}`, value })
    }
  }
  return steps
}
