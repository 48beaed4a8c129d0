/**
 * What the context summary needs from the log besides the document and the participants:
 * the newest memory events of a session that still count (a reverted run's are retracted,
 * retractions.ts), read with indexed queries only.
 */
import type { ContextEvent } from './context.js'
import { isRetracted, noteReverted, RUN_REVERTED, type Retractions } from './retractions.js'
import type { EventStore } from '../store/types.js'

/** Every `memory.*` type there is: clients may append only three, the server two more. */
export const MEMORY_TYPES: readonly string[] = [
  'memory.formed', 'memory.connected', 'memory.strength_changed', 'memory.cascade', 'memory.retrieved',
]

/** The newest `limit` memory events that are not retracted, oldest first. */
export async function readRecentMemoryEvents(store: EventStore, session: string, limit: number): Promise<ContextEvent[]> {
  const retractions: Retractions = new Map()
  for (const e of await store.readNewestOfTypes(session, [RUN_REVERTED], 10_000)) noteReverted(retractions, e)
  for (let asked = limit; ; asked *= 4) {
    const events = await store.readNewestOfTypes(session, MEMORY_TYPES, asked)
    const kept = retractions.size === 0 ? events : events.filter((e) => !isRetracted(retractions, e))
    // Read further back only as far as retracted events took places.
    if (kept.length >= limit || events.length < asked) {
      return kept.slice(-limit).map((e) => ({ position: e.position, type: e.type, data: e.data, actor: e.actor }))
    }
  }
}
