/**
 * The events this process committed lately, kept so that its own subscriptions need not read
 * them back from the database: a commit here is handed to the subscriptions from memory, and
 * only positions written elsewhere (another instance, an import, a retry that lost the order)
 * are read. It also keeps the highest position known to be committed, from this process's own
 * commits and from other processes' notifications, which tells a reader whether the database
 * holds anything it has not seen.
 *
 * Never skipping stays the database's guarantee: positions commit in order (the `log_head`
 * lock), a reader takes from memory only an unbroken run of positions right after what it has
 * seen, and whatever memory lacks it reads by position.
 */
import type { StoredEvent } from './types.js'

/** Bounds on what is kept: enough for readers a few batches behind, not a second log. */
const MAX_EVENTS = 20_000
const MAX_BYTES = 32 * 1024 * 1024

export interface RecentCommits {
  /** Records events this process just committed (any order across calls). */
  committed(events: readonly StoredEvent[]): void
  /** A commit at `position` happened somewhere (a notification's payload). */
  known(position: number): void
  /** Something was committed whose position is not known: readers must read. */
  unknown(): void
  /** The kept events at `after + 1`, `after + 2`, … up to the first one not kept. */
  runAfter(after: number): StoredEvent[]
  /** The highest position known committed. */
  head(): number
  /** Changes whenever `unknown()` is called. */
  unknownGeneration(): number
}

export function createRecentCommits(): RecentCommits {
  const byPosition = new Map<number, StoredEvent>()
  // Positions in the order they were kept, for eviction.
  const order: number[] = []
  let first = 0
  let bytes = 0
  let highest = 0
  let unknownGen = 0

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
      evict()
    },
    known(position) {
      if (position > highest) highest = position
    },
    unknown() {
      unknownGen += 1
    },
    runAfter(after) {
      const run: StoredEvent[] = []
      for (let next = after + 1; ; next++) {
        const event = byPosition.get(next)
        if (!event) return run
        run.push(event)
      }
    },
    head: () => highest,
    unknownGeneration: () => unknownGen,
  }
}

/** A subscription's type filter as `typeFilter` (rows.ts) writes it in SQL, for events in memory. */
export function typeMatcher(types: string[] | undefined): (type: string) => boolean {
  if (!types || types.length === 0 || types.includes('*')) return () => true
  const exact = new Set(types.filter((t) => !t.endsWith('.*')))
  const prefixes = types.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -1))
  return (type) => exact.has(type) || prefixes.some((prefix) => type.startsWith(prefix))
}
