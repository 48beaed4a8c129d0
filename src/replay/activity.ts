/**
 * Activity: a session's document changes grouped by actor and run — a reviewer's page of
 * "what did the agent do in the last hour". Read from the `changes` of the `doc.update`
 * events in a range of the log (filtered by actor, run and time in the database), a page at a time.
 */
import type { RootName } from '../session/schema.js'
import type { EventStore } from '../store/types.js'
import type { Actor } from '../vocabulary.js'
import { toChangeRecord } from './changeLog.js'
import type { ActivityChange, ActivityGroup, Activity } from '../session/history.js'

export type { ActivityChange, ActivityGroup, Activity }

export interface ActivityQuery {
  /** Only this actor's (by id), only this run's. */
  actor?: string
  run?: string
  /** Recorded at or after, at or before. */
  from?: Date
  to?: Date
  /** Exclusive lower bound on position: the `next` of the page before. */
  after?: number
  /** `doc.update` events read, at most. */
  limit: number
}




export async function readActivity(store: EventStore, session: string, query: ActivityQuery): Promise<Activity> {
  const rows = await store.readDocChanges(session, query)
  const groups = new Map<string, ActivityGroup>()
  for (const record of rows.map(toChangeRecord)) {
    if (record.changes.length === 0) continue
    const run = record.actor.run ?? null
    const id = `${record.actor.id}\u0000${run ?? ''}`
    let group = groups.get(id)
    if (!group) groups.set(id, (group = { actor: record.actor, run, from: record.recordedAt, to: record.recordedAt, changes: [] }))
    group.to = record.recordedAt
    for (const change of record.changes) {
      const entry: ActivityChange = { ...change, position: record.position, version: record.version }
      if (record.meta.rationale !== undefined) entry.rationale = record.meta.rationale
      group.changes.push(entry)
    }
  }
  // Groups in the order of their first change.
  return { groups: [...groups.values()], next: rows.length === query.limit ? rows.at(-1)!.position : null }
}
