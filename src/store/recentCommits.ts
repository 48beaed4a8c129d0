/**
 * The log's newest events in memory, so that subscriptions need not read them from the
 * database: this process's commits go in as they are answered, other processes' (another
 * instance, an import) as the shared tail reader (tail.ts) reads them, once for every reader.
 * `filledTo` is how far the log is covered without a hole: every position up to it was here
 * (kept, or evicted since). A reader takes from memory only an unbroken run of positions right
 * after what it has seen; one that fell behind what is kept reads the database by position.
 *
 * Never skipping stays the database's guarantee: positions commit in order (the `log_head`
 * lock), and a read by position after `filledTo` sees every commit before it.
 */
import type { StoredEvent } from './types.js'

/** Bounds on what is kept: enough for readers a few batches behind, not a second log. */
const MAX_EVENTS = 20_000
const MAX_BYTES = 32 * 1024 * 1024

export interface RecentCommits {
  /** Records committed events (this process's, or read from the log; any order across calls). */
  committed(events: readonly StoredEvent[]): void
  /** The log held `position` when this process started: positions up to it count as covered. */
  startAt(position: number): void
  /** The kept events at `after + 1`, `after + 2`, … up to the first one not kept. */
  runAfter(after: number): StoredEvent[]
  /** Every position up to this one has been here: what lies beyond is for the tail reader. */
  filledTo(): number
  /** The highest position kept: above `filledTo` when something in between is still to be read. */
  head(): number
}

export function createRecentCommits(): RecentCommits {
  const byPosition = new Map<number, StoredEvent>()
  // Positions in the order they were kept, for eviction.
  const order: number[] = []
  let first = 0
  let bytes = 0
  let highest = 0
  let filled = 0

  const sizeOf = (event: StoredEvent): number => 512 + (event.payload?.byteLength ?? 0)

  function evict(): void {
    while (order.length - first > MAX_EVENTS || bytes > MAX_BYTES) {
      const position = order[first++]
      const event = byPosition.get(position)
      if (event) {
        bytes -= sizeOf(event)
        byPosition.delete(position)
      }
    }
    if (first > 4096 && first * 2 > order.length) {
      order.splice(0, first)
      first = 0
    }
  }

  return {
    committed(events) {
      for (const event of events) {
        if (byPosition.has(event.position)) continue
        byPosition.set(event.position, event)
        order.push(event.position)
        bytes += sizeOf(event)
        if (event.position > highest) highest = event.position
      }
      while (byPosition.has(filled + 1)) filled += 1
      evict()
    },
    startAt(position) {
      if (position > filled) filled = position
      if (position > highest) highest = position
    },
    runAfter(after) {
      const run: StoredEvent[] = []
      for (let next = after + 1; ; next++) {
        const event = byPosition.get(next)
        if (!event) return run
        run.push(event)
      }
    },
    filledTo: () => filled,
    head: () => highest,
  }
}

/** A subscription's type filter as `typeFilter` (rows.ts) writes it in SQL, for events in memory. */
export function typeMatcher(types: string[] | undefined): (type: string) => boolean {
  if (!types || types.length === 0 || types.includes('*')) return () => true
  const exact = new Set(types.filter((t) => !t.endsWith('.*')))
  const prefixes = types.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -1))
  return (type) => exact.has(type) || prefixes.some((prefix) => type.startsWith(prefix))
}
