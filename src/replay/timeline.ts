/**
 * A session's events between two positions, read page by page: replay streams, exports and
 * snapshot writing walk arbitrarily long timelines with this in constant memory.
 */
import { isTypePattern } from '../store/rows.js'
import type { EventStore, StoredEvent } from '../store/types.js'
import { lastEventAt } from './positions.js'

export interface TimelineRange {
  /** First position included (default: the session's start). */
  from?: number
  /** Last position included (default: the session's head when reading starts). */
  to?: number
  /** Type filters: exact names or `prefix.*` patterns. */
  types?: string[]
  /** Events read per query (default 1000). */
  pageSize?: number
}

/**
 * Yields the session's events with `from ≤ position ≤ to`, in order. Only one page is held
 * at a time, and the next page is read only when the consumer asks for more.
 *
 * Pages are version ranges (v, v + pageSize]: versions have no gaps, so each query touches
 * at most one page of rows whatever plan the database picks. (Keyset paging by position
 * alone can turn quadratic when the planner's statistics are stale after a bulk load.)
 * Types are filtered here for the same reason.
 */
export async function* readTimeline(
  store: EventStore, session: string, { from = 0, to, types, pageSize = 1000 }: TimelineRange = {},
): AsyncGenerator<StoredEvent, void, undefined> {
  const matches = typeMatcher(types)
  const [before, last] = await Promise.all([
    from > 1 ? lastEventAt(store, session, from - 1) : undefined,
    to !== undefined ? lastEventAt(store, session, to) : store.head(session),
  ])
  const lastVersion = last?.version ?? 0
  for (let version = before?.version ?? 0; version < lastVersion; version += pageSize) {
    const events = await store.readVersions(session, { after: version, through: Math.min(version + pageSize, lastVersion) })
    for (const event of events) {
      if (matches(event.type)) yield event
    }
  }
}

/** `memory.*` matches `memory.formed`; `*` or no filter matches everything. */
export function typeMatcher(types: string[] | undefined): (type: string) => boolean {
  if (!types || types.length === 0 || types.includes('*')) return () => true
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const t of types) {
    if (!isTypePattern(t)) throw new TypeError(`type filter "${t}" is not a type name or a pattern like "memory.*"`)
    if (t.endsWith('.*')) prefixes.push(t.slice(0, -1))
    else exact.add(t)
  }
  return (type) => exact.has(type) || prefixes.some((p) => type.startsWith(p))
}
