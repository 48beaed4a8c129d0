/**
 * The log's `doc.update` summaries as typed records: what blame, activity and the stale-write
 * guard read (through the store's `readDocChanges`, never the payloads). A summary recorded by
 * an older server, or written by an importer, may lack the newer fields or be malformed: what
 * does not have the shape of a Change is left out.
 */
import { ROOTS, type Change, type ChangeOp, type RootName, type VoteChange } from '../session/schema.js'
import type { DocChangeRecord, DocChangesQuery, EventStore } from '../store/types.js'

export interface ChangeRecord extends Omit<DocChangeRecord, 'changes'> {
  changes: Change[]
}

const PAGE = 10_000
const PATHS = new Set<string>(Object.values(ROOTS))
const OPS = new Set<string>(['add', 'update', 'delete'])

/** The records of `query`'s range, page by page, oldest first. */
export async function* changeRecords(
  store: EventStore, session: string, query: Omit<DocChangesQuery, 'limit'> = {}, page = PAGE,
): AsyncGenerator<ChangeRecord[], void, undefined> {
  let after = query.after ?? 0
  for (;;) {
    const rows = await store.readDocChanges(session, { ...query, after, limit: page })
    if (rows.length > 0) yield rows.map(toChangeRecord)
    if (rows.length < page) return
    after = rows.at(-1)!.position
  }
}

export function toChangeRecord(row: DocChangeRecord): ChangeRecord {
  const changes = Array.isArray(row.changes) ? row.changes.map(toChange).filter((c): c is Change => c !== undefined) : []
  return { ...row, changes }
}

function toChange(value: unknown): Change | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (typeof v.path !== 'string' || !PATHS.has(v.path) || typeof v.op !== 'string' || !OPS.has(v.op) || typeof v.key !== 'string') return undefined
  const change: Change = { path: v.path as RootName, op: v.op as ChangeOp, key: v.key }
  if (typeof v.step === 'string') change.step = v.step
  if (Array.isArray(v.fields) && v.fields.every((f) => typeof f === 'string')) change.fields = v.fields as string[]
  if (Array.isArray(v.votes)) {
    change.votes = v.votes.filter((x): x is VoteChange =>
      typeof x === 'object' && x !== null && typeof (x as VoteChange).key === 'string' && OPS.has((x as VoteChange).op))
  }
  return change
}
