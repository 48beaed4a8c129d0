/**
 * Subscriptions take this process's own commits from memory and read the database only for
 * positions written elsewhere; either way they deliver every event once, in position order.
 * Driven with an in-memory log standing in for the database, so reads can be counted.
 */
import { describe, expect, it } from 'vitest'
import { createRecentCommits, typeMatcher } from '../src/store/recentCommits.js'
import { createNotifier, subscribe } from '../src/store/subscribe.js'
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
  const deps = {
    read: (session: string, opts: ReadOptions) => select(opts, session),
    readAll: (opts: ReadOptions) => select(opts),
    notifier, pollMs: 60_000, onError: (error: unknown) => { throw error }, recent,
  }
  return {
    deps,
    reads: () => reads,
    /** This process commits: in the log, in memory, and a wake-up. */
    commitHere(...events: StoredEvent[]) {
      log.push(...events)
      recent.committed(events)
      notifier.wake()
    },
    /** Another process commits: in the log only, then its notification (the new head). */
    commitElsewhere(...events: StoredEvent[]) {
      log.push(...events)
      recent.known(events.at(-1)!.position)
      notifier.wake()
    },
  }
}

describe('subscriptions and this process\'s recent commits', () => {
  it('delivers its own commits without reading them back', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, { types: ['doc.update'] }, (e) => { seen.push(e.position) })
    await until(() => h.reads() === 1, { what: 'the first catch-up read' })
    for (let p = 1; p <= 50; p++) h.commitHere(event(p))
    await until(() => seen.length === 50, { what: 'fifty own commits delivered' })
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(h.reads()).toBe(1)
    await sub.close()
  })

  it('reads what others committed between its own commits, and skips nothing', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, {}, (e) => { seen.push(e.position) })
    await until(() => h.reads() === 1, { what: 'the first catch-up read' })
    h.commitHere(event(1), event(2))
    await until(() => seen.length === 2, { what: 'own commits' })
    h.commitElsewhere(event(3, 'memory.formed'), event(4))
    h.commitHere(event(5))
    await until(() => seen.length === 5, { what: 'the others\' commits and the next own one' })
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(h.reads()).toBe(2)
    await sub.close()
  })

  it('filters by type and session in memory as the database would', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, { session: 's2', types: ['memory.*'] }, (e) => { seen.push(e.position) })
    await until(() => h.reads() === 1, { what: 'the first catch-up read' })
    h.commitHere(event(1, 'memory.formed', 's2'), event(2, 'memory.formed', 's1'), event(3, 'doc.update', 's2'), event(4, 'memory.connected', 's2'))
    await until(() => seen.length === 2, { what: 'the matching events' })
    h.commitHere(event(5, 'memory.cascade', 's2'))
    await until(() => seen.length === 3, { what: 'the next matching one' })
    expect(seen).toEqual([1, 4, 5])
    expect(h.reads()).toBe(1)
    await sub.close()
  })

  it('reads when a notification does not say where the log ends', async () => {
    const h = harness()
    const seen: number[] = []
    const sub = subscribe(h.deps, {}, (e) => { seen.push(e.position) })
    await until(() => h.reads() === 1, { what: 'the first catch-up read' })
    h.deps.recent.unknown()
    h.commitElsewhere(event(1))
    await until(() => seen.length === 1, { what: 'the event read after an unknown commit' })
    expect(seen).toEqual([1])
    await sub.close()
  })

  it('forgets the oldest commits beyond its bound, and readers that fall behind read them', () => {
    const recent = createRecentCommits()
    recent.committed(Array.from({ length: 20_001 }, (_, i) => event(i + 1)))
    expect(recent.runAfter(0)).toEqual([])
    expect(recent.runAfter(1)).toHaveLength(20_000)
    expect(recent.head()).toBe(20_001)
  })
})
