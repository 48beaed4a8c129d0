/**
 * Subscriptions take the log's newest events from memory: this process's commits, and what
 * others committed, read once by the shared tail reader for every subscription; either way
 * they deliver every event once, in position order. Driven with an in-memory log standing in
 * for the database, so reads can be counted.
 */
import { describe, expect, it } from 'vitest'
import { createRecentCommits, typeMatcher } from '../src/store/recentCommits.js'
import { createNotifier, subscribe } from '../src/store/subscribe.js'
import { createTailReader } from '../src/store/tail.js'
import type { ReadOptions, StoredEvent } from '../src/store/types.js'
import { until } from './fixtures/until.js'

function event(position: number, type = 'doc.update', session = 's1'): StoredEvent {
  return {
    id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`, session, position, version: position, type,
    data: {}, actor: { id: 'a', name: 'A', kind: 'human' }, meta: { causationId: null, correlationId: null },
    recordedAt: new Date(0).toISOString(), hash: 'h', prevHash: 'p',
  }
}

function harness() {
  const log: StoredEvent[] = []
  const notifier = createNotifier()
  const recent = createRecentCommits()
  let reads = 0
  const select = (opts: ReadOptions, session?: string) => {
    reads += 1
    const matches = typeMatcher(opts.types)
    return Promise.resolve(log.filter((e) => e.position > (opts.after ?? 0) && matches(e.type) && (!session || e.session === session)).slice(0, opts.limit))
  }
  const onError = (error: unknown) => { throw error }
  const tail = createTailReader({ readAll: (opts) => select(opts), recent, notifier, pollMs: 60_000, onError })
  const deps = {
    read: (session: string, opts: ReadOptions) => select(opts, session),
    readAll: (opts: ReadOptions) => select(opts),
    notifier, pollMs: 60_000, onError, shared: { recent, tail },
  }
  return {
    deps,
    recent,
    reads: () => reads,
    /** This process commits: in the log, in memory, and a wake-up (as createEventStore does). */
    commitHere(...events: StoredEvent[]) {
      log.push(...events)
      recent.committed(events)
      if (recent.filledTo() < recent.head()) tail.request()
      notifier.wake()
    },
    /** Another process commits: in the log only, then its notification (which sends the tail reader). */
    commitElsewhere(...events: StoredEvent[]) {
      log.push(...events)
      tail.request()
    },
    /** The log already holds `count` events when the process starts. */
    history(count: number) {
      for (let p = 1; p <= count; p++) log.push(event(p))
      recent.startAt(count)
    },
  }
}

describe('subscriptions and the log\'s newest events in memory', () => {
  it('delivers its own commits without reading them back', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, { types: ['doc.update'] }, (e) => { seen.push(e.position) })
    for (let p = 1; p <= 50; p++) h.commitHere(event(p))
    await until(() => seen.length === 50, { what: 'fifty own commits delivered' })
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(h.reads()).toBe(0)
    await sub.close()
  })

  it('reads what others committed between its own commits once, and skips nothing', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, {}, (e) => { seen.push(e.position) })
    h.commitHere(event(1), event(2))
    await until(() => seen.length === 2, { what: 'own commits' })
    h.commitElsewhere(event(3, 'memory.formed'), event(4))
    h.commitHere(event(5))
    await until(() => seen.length === 5, { what: 'the others\' commits and the next own one' })
    expect(seen).toEqual([1, 2, 3, 4, 5])
    // The tail reader's: the notification's, and perhaps one more for the hole behind 5 if it
    // was seen while that read was on its way (it then finds nothing new).
    expect(h.reads()).toBeLessThanOrEqual(2)
    await sub.close()
  })

  it('filters by type and session in memory as the database would', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, { session: 's2', types: ['memory.*'] }, (e) => { seen.push(e.position) })
    h.commitHere(event(1, 'memory.formed', 's2'), event(2, 'memory.formed', 's1'), event(3, 'doc.update', 's2'), event(4, 'memory.connected', 's2'))
    await until(() => seen.length === 2, { what: 'the matching events' })
    h.commitHere(event(5, 'memory.cascade', 's2'))
    await until(() => seen.length === 3, { what: 'the next matching one' })
    expect(seen).toEqual([1, 4, 5])
    expect(h.reads()).toBe(0)
    await sub.close()
  })

  it('shares one read of what others committed among all its subscriptions', async () => {
    const h = harness()
    const seen = Array.from({ length: 200 }, () => [] as number[])
    const subs = seen.map((list) => subscribe(h.deps, {}, (e) => { list.push(e.position) }))
    for (let p = 1; p <= 20; p++) {
      h.commitElsewhere(event(p))
      await until(() => seen.every((list) => list.length === p), { what: `200 subscriptions to get event ${p}` })
    }
    expect(seen.every((list) => list.join() === Array.from({ length: 20 }, (_, i) => i + 1).join())).toBe(true)
    // One read per notification, not one per subscription (4,000).
    expect(h.reads()).toBe(20)
    await Promise.all(subs.map((sub) => sub.close()))
  })

  it('catches up from the database when it starts behind what memory covers', async () => {
    const h = harness()
    h.history(30)
    const seen: number[] = []
    const sub = subscribe(h.deps, { after: 10 }, (e) => { seen.push(e.position) })
    await until(() => seen.length === 20, { what: 'the history after 10' })
    h.commitHere(event(31))
    await until(() => seen.length === 21, { what: 'the next own commit' })
    expect(seen).toEqual(Array.from({ length: 21 }, (_, i) => i + 11))
    expect(h.reads()).toBe(1)
    await sub.close()
  })

  it('forgets the oldest commits beyond its bound, and readers that fall behind read them', () => {
    const recent = createRecentCommits()
    recent.committed(Array.from({ length: 20_001 }, (_, i) => event(i + 1)))
    expect(recent.runAfter(0)).toEqual([])
    expect(recent.runAfter(1)).toHaveLength(20_000)
    expect(recent.head()).toBe(20_001)
    expect(recent.filledTo()).toBe(20_001)
  })
})
