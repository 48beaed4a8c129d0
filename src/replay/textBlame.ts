/**
 * Blame inside an annotation's text: who wrote each run of its characters. Every character
 * of a Y.Text is an item with a Yjs id (client, clock); the `doc.update` that carried that id
 * is the one whose payload spans the clock for that client (`Y.parseUpdateMeta`, which reads
 * a payload's ranges without building a document). Only the updates whose summaries name an
 * annotation are read, since only they can carry annotation text; a character no such
 * update carries (an update recorded with `changes: []`) is in a range by nobody (`by: null`).
 */
import * as Y from 'yjs'
import type { TextRange } from '../session/history.js'
import { ROOTS } from '../session/schema.js'
import { lastAtOrBefore } from '../sorted.js'
import type { EventStore } from '../store/types.js'
import type { ChangeRecord } from './changeLog.js'

export type { TextRange }

/** One client's clock span carried by one update. */
interface Span {
  from: number
  to: number
  record: ChangeRecord
}

/** Clock spans by Yjs client, each client's sorted by `from`. */
export type ClockIndex = Map<number, Span[]>

/** Whether `record` may carry annotation text (its summary names an annotation). */
export const mayCarryText = (record: ChangeRecord): boolean => record.changes.some((c) => c.path === ROOTS.annotations)

/** The clock spans of the payloads of `records` (doc.updates of `session`), read from the log. */
export async function clockIndex(store: EventStore, session: string, records: ChangeRecord[]): Promise<ClockIndex> {
  const index: ClockIndex = new Map()
  const wanted = new Map(records.map((r) => [r.position, r]))
  if (wanted.size === 0) return index
  // A loop, not Math.min(...positions): a long session's positions would overflow the call's arguments.
  let first = Infinity
  let last = -Infinity
  for (const position of wanted.keys()) {
    if (position < first) first = position
    if (position > last) last = position
  }
  for (let after = first - 1; ;) {
    const page = await store.read(session, { after, until: last, types: ['doc.update'], limit: 1000 })
    for (const event of page) {
      const record = wanted.get(event.position)
      if (!record || !event.payload) continue
      let meta: { from: Map<number, number>; to: Map<number, number> }
      try {
        meta = Y.parseUpdateMeta(event.payload)
      } catch {
        continue // a payload Yjs cannot read carried nothing the document holds
      }
      for (const [client, to] of meta.to) {
        const from = meta.from.get(client) ?? 0
        if (to <= from) continue
        let spans = index.get(client)
        if (!spans) index.set(client, (spans = []))
        spans.push({ from, to, record })
      }
    }
    if (page.length < 1000) break
    after = page.at(-1)!.position
  }
  for (const spans of index.values()) spans.sort((a, b) => a.from - b.from || a.record.position - b.record.position)
  return index
}

/** The update that first carried (client, clock), if any. */
function carrier(index: ClockIndex, client: number, clock: number): ChangeRecord | undefined {
  const spans = index.get(client)
  if (!spans) return undefined
  // The rightmost span starting at or before clock. One client's spans rarely overlap (an
  // offline edit re-sent and stored twice); when they do, the earliest stored one wrote it,
  // so the run of spans left of it that still cover the clock is searched too.
  const at = lastAtOrBefore(spans, clock, (span) => span.from)
  let found: ChangeRecord | undefined
  for (let i = at; i >= 0 && clock < spans[i].to; i--) {
    if (!found || spans[i].record.position < found.position) found = spans[i].record
  }
  return found
}

/**
 * `text`'s characters in runs by the update that wrote them: `[from, to)` offsets as
 * `Y.Text` counts them (UTF-16 code units), adjacent runs of one update merged.
 */
export function textRanges(text: Y.Text, index: ClockIndex): TextRange[] {
  const out: TextRange[] = []
  let offset = 0
  let open: { range: TextRange; record: ChangeRecord | undefined } | undefined
  for (let item = text._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    for (let i = 0; i < item.length; i++) {
      const record = carrier(index, item.id.client, item.id.clock + i)
      if (open && open.record === record) open.range.to = offset + 1
      else {
        open = { range: rangeOf(offset, record), record }
        out.push(open.range)
      }
      offset++
    }
  }
  return out
}

function rangeOf(from: number, record: ChangeRecord | undefined): TextRange {
  if (!record) return { from, to: from + 1, by: null, at: null, version: null }
  const range: TextRange = { from, to: from + 1, by: record.actor, at: record.recordedAt, version: record.version }
  if (record.actor.run !== undefined) range.run = record.actor.run
  return range
}
