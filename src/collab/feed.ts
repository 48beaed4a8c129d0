/**
 * One subscription per room manager to every `doc.update` in the log (and whatever other types
 * it is asked to follow: the agents' suspensions), handed to the taps of their sessions — the
 * rooms, and the agents' stream. One subscription per room would make every commit wake every
 * loaded room into a query of its own; this way a commit costs one read, however many are tapped.
 */
import type { EventStore, StoredEvent, Subscription } from '../store/types.js'

export interface Tap {
  /**
   * Hands over the events buffered since `tap()` that come after `position` (what the room
   * loaded), then each new one as it arrives, in log order.
   */
  start(position: number, handler: (event: StoredEvent) => void): void
  stop(): void
}

export interface UpdateFeed {
  /**
   * Starts buffering `session`'s updates. Call it before reading the session: whatever was
   * committed before then, the read sees; whatever is delivered after, the tap keeps.
   */
  tap(session: string): Promise<Tap>
  /** How far the feed has read the log; undefined before the first room started it. */
  position(): number | undefined
  close(): Promise<void>
}

export function createUpdateFeed(store: EventStore, onError: (error: unknown) => void, types: readonly string[] = ['doc.update']): UpdateFeed {
  const taps = new Map<string, Set<(event: StoredEvent) => void>>()
  let subscription: Promise<Subscription> | undefined
  let current: Subscription | undefined
  let closed = false

  function dispatch(event: StoredEvent): void {
    for (const push of taps.get(event.session) ?? []) {
      try {
        push(event)
      } catch (error) {
        onError(error) // one room's trouble must not stop the feed for the others
      }
    }
  }

  /** Subscribes from the log's current end, once; a failed start is retried by the next tap. */
  function started(): Promise<Subscription> {
    subscription ??= store.lastPosition().then(
      (after) => (current = store.subscribe({ types: [...types], after }, dispatch)),
      (error: unknown) => {
        subscription = undefined
        throw error
      },
    )
    return subscription
  }

  return {
    async tap(session) {
      if (closed) throw new Error('the update feed is closed')
      await started()
      let buffer: StoredEvent[] | undefined = []
      let after = 0
      let handler: ((event: StoredEvent) => void) | undefined
      const push = (event: StoredEvent): void => {
        if (buffer) buffer.push(event)
        else if (event.position > after) handler!(event)
      }
      const set = taps.get(session) ?? new Set()
      set.add(push)
      taps.set(session, set)
      return {
        start(position, onEvent) {
          after = position
          handler = onEvent
          const waiting = buffer ?? []
          buffer = undefined
          for (const event of waiting) if (event.position > after) onEvent(event)
        },
        stop() {
          set.delete(push)
          if (set.size === 0 && taps.get(session) === set) taps.delete(session)
        },
      }
    },
    position: () => current?.position(),
    async close() {
      closed = true
      taps.clear()
      const current = subscription
      subscription = undefined
      await (await current?.catch(() => undefined))?.close()
    },
  }
}
