/**
 * Live subscriptions: catch up from the log in pages, then take new events from memory
 * (`recent`, recentCommits.ts), where this process's commits and the shared tail reader
 * (tail.ts) put them, waking on each. A subscription reads the database itself only while it
 * is behind what memory covers (catching up, or evicted past), by position, which is safe
 * because positions commit in order. Without `recent`, every wake-up and every poll reads.
 */
import { typeMatcher, type RecentCommits } from './recentCommits.js'
import type { TailReader } from './tail.js'
import type { ReadOptions, StoredEvent, SubscribeOptions, Subscription } from './types.js'

const PAGE = 500

export interface Notifier {
  /** Wakes every waiting reader. */
  wake(): void
  /** A number that changes on every wake; compare before and after a read. */
  generation(): number
  /** Resolves on the next wake after `since`, after `timeoutMs`, or when `signal` aborts. */
  wait(since: number, timeoutMs: number, signal: AbortSignal): Promise<void>
}

export function createNotifier(): Notifier {
  let generation = 0
  const waiters = new Set<() => void>()
  return {
    wake() {
      generation += 1
      for (const waiter of [...waiters]) waiter()
    },
    generation: () => generation,
    wait(since, timeoutMs, signal) {
      if (generation !== since || signal.aborted) return Promise.resolve()
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer)
          waiters.delete(done)
          signal.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, timeoutMs)
        waiters.add(done)
        signal.addEventListener('abort', done)
      })
    },
  }
}

export interface SubscribeDeps {
  read(session: string, options: ReadOptions): Promise<StoredEvent[]>
  readAll(options: ReadOptions): Promise<StoredEvent[]>
  notifier: Notifier
  pollMs: number
  onError(error: unknown): void
  /** The log's newest events in memory and their reader; without them every wake-up reads the database. */
  shared?: { recent: RecentCommits; tail: TailReader }
}

export function subscribe(
  deps: SubscribeDeps,
  options: SubscribeOptions,
  handler: (event: StoredEvent) => Promise<void> | void,
): Subscription {
  const controller = new AbortController()
  const recent = deps.shared?.recent
  const matches = typeMatcher(options.types)
  const wanted = (event: StoredEvent) => matches(event.type) && (!options.session || event.session === options.session)
  // Every position up to `scanned` has been considered (delivered, or not of this subscription).
  let scanned = options.after ?? 0
  let failures = 0

  async function run(): Promise<void> {
    while (!controller.signal.aborted) {
      const since = deps.notifier.generation()
      if (recent) {
        for (const event of recent.runAfter(scanned)) {
          if (controller.signal.aborted) return
          if (wanted(event)) await handler(event)
          scanned = event.position
        }
        // Caught up with what memory covers: what comes next, the tail reader brings.
        if (scanned >= recent.filledTo()) {
          await deps.notifier.wait(since, deps.pollMs, controller.signal)
          continue
        }
      }
      // Behind memory (catching up, or evicted past): read the database by position.
      const coveredBefore = recent?.filledTo() ?? 0
      let page: StoredEvent[]
      try {
        const query = { after: scanned, limit: PAGE, types: options.types }
        page = options.session ? await deps.read(options.session, query) : await deps.readAll(query)
        failures = 0
      } catch (error) {
        // The database is away: keep the subscription, back off, read again.
        deps.onError(error)
        failures += 1
        // Not the notifier: a wake must not cut the backoff short, and wait(NaN) never waited.
        await pause(Math.min(200 * 2 ** failures, 5000), controller.signal)
        continue
      }
      for (const event of page) {
        if (controller.signal.aborted) return
        await handler(event)
        scanned = event.position
      }
      if (page.length < PAGE) {
        // The read saw every commit memory covered when it started: none of them is ours.
        scanned = Math.max(scanned, coveredBefore)
        if (!recent) await deps.notifier.wait(since, deps.pollMs, controller.signal)
      }
    }
  }

  const release = deps.shared?.tail.retain()
  const done = run().catch((error: unknown) => {
    // A handler that throws ends its own subscription, nobody else's.
    controller.abort()
    deps.onError(error)
  }).finally(() => release?.())
  return {
    async close() {
      controller.abort()
      await done
    },
    position: () => scanned,
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done)
  })
}
