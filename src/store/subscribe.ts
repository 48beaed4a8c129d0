/**
 * Live subscriptions: catch up from the log in pages, then wait for a wake-up and read again.
 * LISTEN/NOTIFY (and this process's own commits) only wake readers; what they deliver always
 * comes from a re-read by position, which is safe because positions commit in order. A poll
 * covers a lost notification or a dropped LISTEN connection.
 */
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
}

export function subscribe(
  deps: SubscribeDeps,
  options: SubscribeOptions,
  handler: (event: StoredEvent) => Promise<void> | void,
): Subscription {
  const controller = new AbortController()
  let after = options.after ?? 0
  let failures = 0

  async function run(): Promise<void> {
    while (!controller.signal.aborted) {
      const since = deps.notifier.generation()
      let page: StoredEvent[]
      try {
        const query = { after, limit: PAGE, types: options.types }
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
        after = event.position
      }
      if (page.length < PAGE) await deps.notifier.wait(since, deps.pollMs, controller.signal)
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
