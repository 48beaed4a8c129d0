/**
 * The stale-write guard's question (SPEC "Agents under control"): did anyone but the writer
 * change an entry the write depends on after the version it read? Answered from the `changes`
 * of the `doc.update` events in those versions alone — one range of the log, never a replay.
 */
import type { GuardedEntry } from '../session/docOps.js'
import { ROOTS, type Change, type RootName } from '../session/schema.js'
import type { EventStore } from '../store/types.js'
import type { Actor } from '../vocabulary.js'
import { changeRecords, type ChangeRecord } from './changeLog.js'
import type { StaleEntry } from '../session/history.js'

export type { StaleEntry }


export interface StaleQuery {
  /** The version the writer read (exclusive). */
  after: number
  /** Up to this version (inclusive). */
  through: number
  guarded: GuardedEntry[]
  /** The writer's participant id: its own changes never make it stale. */
  writer: string
}

export async function findStaleEntries(store: EventStore, session: string, query: StaleQuery): Promise<StaleEntry[]> {
  if (query.guarded.length === 0 || query.through <= query.after) return []
  const found = new Map<GuardedEntry, StaleEntry>()
  for await (const page of changeRecords(store, session, { afterVersion: query.after, throughVersion: query.through })) {
    for (const record of page) collectStale(record, query, found)
  }
  return query.guarded.flatMap((entry) => found.get(entry) ?? [])
}

/** Records in `found`, for each guarded entry, the record's change of it (later records overwrite earlier ones). */
export function collectStale(record: ChangeRecord, { guarded, writer }: Pick<StaleQuery, 'guarded' | 'writer'>, found: Map<GuardedEntry, StaleEntry>): void {
  if (record.actor.id === writer) return
  for (const change of record.changes) {
    for (const entry of guarded) {
      if (!concerns(change, entry)) continue
      const stale: StaleEntry = { path: entry.path, key: entry.key, by: record.actor, version: record.version, position: record.position, at: record.recordedAt }
      if (entry.vote !== undefined) stale.vote = entry.vote
      found.set(entry, stale)
    }
  }
}

/**
 * Whether `change` changes what `entry` stands for. A vote entry is concerned by the decision
 * being added or removed, by an update outside its votes (or one that does not say where it
 * was: summaries recorded before `fields` existed), and by a change of that very vote.
 */
export function concerns(change: Change, entry: GuardedEntry): boolean {
  if (change.path !== entry.path || change.key !== entry.key) return false
  if (entry.vote === undefined || entry.path !== ROOTS.decisions || change.op !== 'update') return true
  if (change.fields === undefined || change.fields.some((field) => field !== 'votes')) return true
  return change.votes?.some((vote) => vote.key === entry.vote) ?? false
}
