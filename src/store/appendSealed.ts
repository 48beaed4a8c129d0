/**
 * Appending a whole session of *sealed* events: events that already carry their versions,
 * times and hashes (an export read back). Only positions are this log's own. Everything is
 * written in one transaction, through the same `writeRows` as `append`, with the same append
 * hooks; a session or event id the log already has writes nothing and is returned as such.
 *
 * The events arrive in chunks from an async iterable, so a file of any length is written in
 * constant memory; an error the iterable throws (a file that changed underfoot) rolls
 * everything back.
 */
import { writeRows } from './appendEvents.js'
import { lockLog } from './queries/lockLog.js'
import type { AppendHook, SqlDriver, SqlExecutor, StoredEvent } from './types.js'

/** A stored event before this log gives it a position. */
export type SealedEvent = Omit<StoredEvent, 'position'>

export type SealedResult =
  | { ok: true; count: number; version: number; hash: string; firstPosition: number; lastPosition: number }
  | { ok: false; reason: 'session_exists' }
  /** `id` is already recorded, at `version` of `session` (maybe an earlier chunk of this very append). */
  | { ok: false; reason: 'id_conflict'; id: string; session: string; version: number }

/** A bulk load leaves the planner's statistics behind; past this many events, refresh them. */
const ANALYZE_AFTER = 10_000

class Refused {
  constructor(readonly result: SealedResult) {}
}

export async function appendSealed(
  driver: SqlDriver, { channel, hooks }: { channel: string; hooks: readonly AppendHook[] },
  session: string, chunks: AsyncIterable<SealedEvent[]>,
): Promise<SealedResult> {
  let result: SealedResult
  try {
    result = await driver.transaction(async (tx) => {
      let position = await lockLog(tx)
      const taken = await tx.query('SELECT 1 FROM sessions WHERE id = $1', [session])
      if (taken.length > 0) throw new Refused({ ok: false, reason: 'session_exists' })
      const firstPosition = position + 1
      let version = 0
      let first: SealedEvent | undefined
      // One chunk is held back so that the last one is written together with the session's head.
      let pending: StoredEvent[] = []
      const write = async (rows: StoredEvent[], last: boolean) => {
        const end = rows.at(-1)
        if (!end) return
        const head = last && first
          ? [{ id: session, version: end.version, hash: end.hash, position: end.position, createdAt: first.recordedAt, updatedAt: end.recordedAt }]
          : []
        await writeRows(tx, rows, head, end.position, channel)
        for (const hook of hooks) await hook(tx, rows)
      }
      for await (const chunk of chunks) {
        if (chunk.length === 0) continue
        for (const event of chunk) {
          if (event.session !== session || event.version !== version + 1) {
            throw new TypeError(`sealed events must be session "${session}"'s versions 1, 2, 3 …; got version ${event.version} of "${event.session}" after ${version}`)
          }
          version = event.version
        }
        await write(pending, false)
        const conflict = await knownId(tx, chunk.map((e) => e.id))
        if (conflict) throw new Refused({ ok: false, reason: 'id_conflict', ...conflict })
        first ??= chunk[0]
        pending = chunk.map((event) => ({ ...event, position: ++position }))
      }
      await write(pending, true)
      const end = pending.at(-1)
      if (!end) throw new TypeError('appendSealed needs at least one event')
      return { ok: true, count: position - firstPosition + 1, version: end.version, hash: end.hash, firstPosition, lastPosition: position }
    })
  } catch (error) {
    if (error instanceof Refused) return error.result
    throw error
  }
  // Without fresh statistics (autovacuum may be off, or slow to notice), the planner's plans
  // for this session's reads can be far off.
  if (result.ok && result.count >= ANALYZE_AFTER) await driver.query('ANALYZE events').catch(() => {})
  return result
}

/** Also finds ids of earlier chunks: the transaction sees its own rows. */
async function knownId(tx: SqlExecutor, ids: string[]): Promise<{ id: string; session: string; version: number } | undefined> {
  const rows = await tx.query<{ id: string; session_id: string; version: number }>(
    'SELECT id::text AS id, session_id, version FROM events WHERE id = ANY($1::uuid[]) LIMIT 1', [ids],
  )
  return rows[0] && { id: rows[0].id, session: rows[0].session_id, version: rows[0].version }
}
