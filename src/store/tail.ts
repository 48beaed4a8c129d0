/**
 * The one reader of the log's tail in this process. Whatever other processes commit (another
 * instance, an import, a writer this process has not heard back from yet) is read here once,
 * put into memory (recentCommits.ts) and every subscription woken to take it from there — so
 * 500 open streams cost one read per batch of new events, not 500. It reads when told of a
 * commit it has not got (a notification, a hole behind this process's own commit) and, while
 * anyone subscribes, every `pollMs`, which covers a lost notification or a dropped LISTEN.
 */
import type { RecentCommits } from './recentCommits.js'
import type { Notifier } from './subscribe.js'
import type { ReadOptions, StoredEvent } from './types.js'

const PAGE = 1000

export interface TailReader {
  /** Reads what the log holds beyond memory's `filledTo` (at once, or after the read in progress). */
  request(): void
  /** A subscription starts (the poll runs while there is one); returns its release. */
  retain(): () => void
  /** Resolves once no read is in progress. */
  idle(): Promise<void>
  close(): void
}

export function createTailReader(deps: {
  readAll(options: ReadOptions): Promise<StoredEvent[]>
  recent: RecentCommits
  notifier: Notifier
  pollMs: number
  onError(error: unknown): void
}): TailReader {
  const { recent, notifier } = deps
  let reading: Promise<void> | undefined
  let again = false
  let users = 0
  let poll: NodeJS.Timeout | undefined
  let closed = false

  function request(): void {
    if (closed) return
    if (reading) {
      again = true
      return
    }
    reading = readTail().finally(() => {
      reading = undefined
      if (again) {
        again = false
        request()
      }
    })
  }

  async function readTail(): Promise<void> {
    for (;;) {
      let page: StoredEvent[]
      try {
        page = await deps.readAll({ after: recent.filledTo(), limit: PAGE })
      } catch (error) {
        // The database is away: subscriptions wait, the next poll or notification reads again.
        deps.onError(error)
        return
      }
      if (page.length > 0) {
        recent.committed(page)
        notifier.wake()
      }
      if (page.length < PAGE || closed) return
    }
  }

  return {
    request,
    retain() {
      users += 1
      if (users === 1 && !closed) {
        poll = setInterval(request, deps.pollMs)
        poll.unref()
      }
      let released = false
      return () => {
        if (released) return
        released = true
        users -= 1
        if (users === 0 && poll) {
          clearInterval(poll)
          poll = undefined
        }
      }
    },
    async idle() {
      while (reading) await reading
    },
    close() {
      closed = true
      if (poll) clearInterval(poll)
      poll = undefined
    },
  }
}
