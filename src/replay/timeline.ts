/**
 * A session's events between two positions, read page by page: replay streams and exports
 * walk arbitrarily long timelines with this in constant memory.
 */
import type { EventStore, StoredEvent } from '../store/types.js'

export interface TimelineRange {
  /** First position included (default: the session's start). */
  from?: number
  /** Last position included (default: no limit). */
  to?: number
  /** Type filters: exact names or `prefix.*` patterns. */
  types?: string[]
  /** Events read per query (default 1000). */
  pageSize?: number
}

/**
 * Yields the session's events with `from ≤ position ≤ to`, in order. Only one page is held
 * at a time, and the next page is read only when the consumer asks for more.
 */
export async function* readTimeline(
  store: EventStore, session: string, { from = 0, to, types, pageSize = 1000 }: TimelineRange = {},
): AsyncGenerator<StoredEvent, void, undefined> {
  let after = Math.max(from, 1) - 1
  for (;;) {
    if (to !== undefined && after >= to) return
    const page = await store.read(session, { after, until: to, types, limit: pageSize })
    yield* page
    if (page.length < pageSize) return
    after = page[page.length - 1].position
  }
}
