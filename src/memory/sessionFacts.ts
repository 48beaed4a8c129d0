/**
 * What the context summary needs from the log besides the document and the participants:
 * the newest memory events of a session, read with indexed queries only.
 */
import type { ContextEvent } from './context.js'
import { readNewestOfTypes } from '../store/queries/readNewestOfTypes.js'
import type { EventStore } from '../store/types.js'

/** Every `memory.*` type there is: clients may append only three, the server two more. */
export const MEMORY_TYPES: readonly string[] = [
  'memory.formed', 'memory.connected', 'memory.strength_changed', 'memory.cascade', 'memory.retrieved',
]

/** The newest `limit` memory events, oldest first. */
export async function readRecentMemoryEvents(store: EventStore, session: string, limit: number): Promise<ContextEvent[]> {
  const events = await store.readNewestOfTypes(session, MEMORY_TYPES, limit)
  return events.map((e) => ({ position: e.position, type: e.type, data: e.data, actor: e.actor }))
}
