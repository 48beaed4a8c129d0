/**
 * The first client of a new session is synced while its `session.created` is being stored
 * (createRoomManager.ts `join`). So that such a client, synced, finds its session over HTTP
 * at once, the store the HTTP routes read through waits for that write when a session is not
 * there yet but is being created on this instance, then looks again. (On another instance
 * the session appears once the write is stored: a few milliseconds.)
 */
import type { EventStore } from '../store/types.js'
import type { RoomManager } from './createRoomManager.js'

export function awaitingCreation(store: EventStore, rooms: Pick<RoomManager, 'creating'>): EventStore {
  return Object.assign(Object.create(store) as EventStore, {
    async head(session: string) {
      const head = await store.head(session)
      if (head) return head
      const creating = rooms.creating(session)
      if (!creating) return head
      await creating
      return store.head(session)
    },
  } satisfies Partial<EventStore>)
}
