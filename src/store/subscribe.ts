/**
 * Live subscriptions: catch up from the log in pages, then wait for a wake-up and read again.
 * LISTEN/NOTIFY (and this process's own commits) only wake readers. What they deliver comes
 * from a read by position, which is safe because positions commit in order — or, for the
 * positions right after what a reader has seen that this process committed itself, from
 * memory (`recent`, recentCommits.ts); the database is read whenever a position is known to
 * be committed that memory cannot give in an unbroken run. A poll covers a lost notification
 * or a dropped LISTEN connection, and always reads the database.
 */
import { typeMatcher, type RecentCommits } from './recentCommits.js'
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
  /** This process's recent commits; without it every wake-up reads the database. */
  recent?: RecentCommits
}

export function subscribe(
  deps: SubscribeDeps,
  options: SubscribeOptions,
  handler: (event: StoredEvent) => Promise<void> | void,
): Subscription {
  const controller = new AbortController()
  const { recent } = deps
  const matches = typeMatcher(options.types)
  const wanted = (event: StoredEvent) => matches(event.type) && (!options.session || event.session === options.session)
  // Every position up to `scanned` has been considered (delivered, or not of this subscription).
  let scanned = options.after ?? 0
  let failures = 0

  async function deliver(event: StoredEvent): Promise<void> {
    if (wanted(event)) await handler(event)
    scanned = event.position
  }

  async function run(): Promise<void> {
    let mustRead = true
    let unknownSeen = recent?.unknownGeneration()
    while (!controller.signal.aborted) {
      const since = deps.notifier.generation()
      if (!mustRead && recent) {
        for (const event of recent.runAfter(scanned)) {
          if (controller.signal.aborted) return
          await deliver(event)
        }
        if (recent.head() <= scanned && recent.unknownGeneration() === unknownSeen) {
          await deps.notifier.wait(since, deps.pollMs, controller.signal)
          // Woken: memory first. Timed out (the poll): the database.
          mustRead = deps.notifier.generation() === since
          continue
        }
      }
      // Whatever was known committed before the read started, the read sees.
      const knownBefore = recent?.head() ?? 0
      const unknownBefore = recent?.unknownGeneration()
      let page: StoredEvent[]
      try {
        const query = { after: scanned, limit: PAGE, types: options.types }
        page = options.session ? await deps.read(options.session, query) : await deps.readAll(query)
        failures = 0
      } catch (error) {
        // The database is away: keep the subscription, back off, read again.
        deps.onError(error)
        failures += 1
        mustRead = true
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
        scanned = Math.max(scanned, knownBefore)
        unknownSeen = unknownBefore
        mustRead = !recent
        if (!recent) await deps.notifier.wait(since, deps.pollMs, controller.signal)
      }
    }
  }

  const done = run().catch((error: unknown) => {
    // A handler that throws ends its own subscription, nobody else's.
    controller.abort()
    deps.onError(error)
  })
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
