/**
 * Appending with group commit: appends that arrive while a transaction is in flight wait and
 * are then written together in the next one. Each append is still judged on its own
 * (idempotency, expectedVersion); if the shared transaction fails, each append is retried in
 * a transaction of its own so that one bad append cannot sink its neighbours.
 *
 * Inside the transaction, the `log_head` row lock serializes writers across every process on
 * the database, which is what makes positions commit in order (see migrations/0001).
 */
import { randomUUID } from 'node:crypto'
import { chainHash, GENESIS_HASH } from './hash.js'
import { jsonData } from './rows.js'
import type {
  AppendedRef, AppendHook, AppendOptions, AppendResult, NewEvent, SqlDriver, SqlExecutor, StoredEvent,
} from './types.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MAX_EVENTS_PER_TRANSACTION = 5000

type IdentifiedEvent = NewEvent & { id: string }

interface PendingAppend {
  session: string
  events: IdentifiedEvent[]
  options: { expectedVersion?: number; ifNew: IdentifiedEvent[] }
  resolve(result: AppendResult): void
  reject(error: unknown): void
}

export interface Appender {
  append(session: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>
  /** Resolves when everything queued so far is written (or failed). */
  flush(): Promise<void>
}

export function createAppender(
  driver: SqlDriver,
  { channel, hooks, onCommitted }: { channel: string; hooks: AppendHook[]; onCommitted(lastPosition: number): void },
): Appender {
  const queue: PendingAppend[] = []
  // Set and cleared synchronously inside drain(), so an append queued at any moment either
  // finds the loop running (and is picked up by it) or starts a new one.
  let draining: Promise<void> | undefined

  function append(session: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new TypeError('append needs at least one event')
    const withIds = [...(options.ifNew ?? []), ...events].map(withId)
    const ifNewCount = options.ifNew?.length ?? 0
    return new Promise<AppendResult>((resolve, reject) => {
      queue.push({
        session,
        events: withIds.slice(ifNewCount),
        options: { ...options, ifNew: withIds.slice(0, ifNewCount) },
        resolve,
        reject,
      })
      if (!draining) draining = drain()
    })
  }

  async function drain(): Promise<void> {
    await Promise.resolve() // let appends made in the same tick join the first batch
    while (queue.length > 0) {
      const batch = takeBatch()
      try {
        const results = await writeInTransaction(batch)
        batch.forEach((p, i) => p.resolve(results[i]))
      } catch (error) {
        if (batch.length === 1) {
          batch[0].reject(error)
          continue
        }
        for (const pending of batch) {
          try {
            pending.resolve((await writeInTransaction([pending]))[0])
          } catch (single) {
            pending.reject(single)
          }
        }
      }
    }
    draining = undefined
  }

  function takeBatch(): PendingAppend[] {
    // One splice per batch: shift() per append is quadratic when thousands are queued.
    let take = 0
    let count = 0
    while (take < queue.length) {
      const size = queue[take].events.length + queue[take].options.ifNew.length
      if (take > 0 && count + size > MAX_EVENTS_PER_TRANSACTION) break
      count += size
      take += 1
    }
    return queue.splice(0, take)
  }

  async function writeInTransaction(batch: PendingAppend[]): Promise<AppendResult[]> {
    const { results, last } = await driver.transaction((tx) => writeBatch(tx, batch, channel, hooks))
    if (last > 0) onCommitted(last)
    return results
  }

  return {
    append,
    async flush() {
      while (draining) await draining
    },
  }
}

function withId(event: NewEvent): IdentifiedEvent {
  const id = event.id ?? randomUUID()
  if (!UUID.test(id)) throw new TypeError(`event id "${id}" is not a UUID`)
  return { ...event, id: id.toLowerCase() }
}

interface Head {
  version: number
  hash: string
  position: number
  createdAt: string
}

async function writeBatch(
  tx: SqlExecutor, batch: PendingAppend[], channel: string, hooks: AppendHook[],
): Promise<{ results: AppendResult[]; last: number }> {
  const [{ position: lockedPosition }] = await tx.query<{ position: string | number }>(
    'SELECT position FROM log_head FOR UPDATE',
  )
  let position = Number(lockedPosition)
  const sessionIds = [...new Set(batch.map((p) => p.session))]
  const eventIds = batch.flatMap((p) => [...p.events, ...p.options.ifNew].map((e) => e.id))
  const [headRows, existingRows] = await Promise.all([
    tx.query<{ id: string; version: number; hash: string; position: string | number; created_at: Date | string }>(
      'SELECT id, version, hash, position, created_at FROM sessions WHERE id = ANY($1::text[])', [sessionIds]),
    tx.query<{ id: string; session_id: string; position: string | number; version: number }>(
      'SELECT id::text AS id, session_id, position, version FROM events WHERE id = ANY($1::uuid[])', [eventIds]),
  ])
  const heads = new Map<string, Head>(headRows.map((r) => [r.id, {
    version: r.version, hash: r.hash, position: Number(r.position),
    createdAt: new Date(r.created_at).toISOString(),
  }]))
  const known = new Map<string, AppendedRef & { session: string }>(existingRows.map((r) => [r.id, {
    id: r.id, session: r.session_id, position: Number(r.position), version: r.version,
  }]))

  const written: StoredEvent[] = []
  const changed = new Set<string>()
  const results = batch.map((pending): AppendResult => {
    const { session, events, options } = pending
    const seen = events.map((e) => known.get(e.id))
    const current = heads.get(session)
    const version = current?.version ?? 0
    if (seen.every((ref) => ref !== undefined)) {
      if (seen.every((ref) => ref!.session === session)) {
        return { ok: true, duplicate: true, version, events: seen.map((ref) => ({ id: ref!.id, position: ref!.position, version: ref!.version })) }
      }
      return { ok: false, reason: 'id_conflict', message: 'these event ids were already recorded in another session' }
    }
    if (seen.some((ref) => ref !== undefined)) {
      return { ok: false, reason: 'id_conflict', message: 'some of these event ids were already recorded, others not: send them again as they were first sent' }
    }
    if (new Set(events.map((e) => e.id)).size !== events.length) {
      return { ok: false, reason: 'id_conflict', message: 'the same event id appears twice in one append' }
    }
    if (options.expectedVersion !== undefined && options.expectedVersion !== version) {
      return { ok: false, reason: 'version_conflict', expected: options.expectedVersion, actual: version }
    }
    const prelude = version === 0 ? options.ifNew : []
    const toWrite = [...prelude, ...events]
    const now = new Date().toISOString()
    const head: Head = current ?? { version: 0, hash: GENESIS_HASH, position: 0, createdAt: now }
    const refs: AppendedRef[] = []
    for (const [index, event] of toWrite.entries()) {
      position += 1
      const stored = sealEvent(event, session, head.version + 1, position, head.hash, now)
      head.version = stored.version
      head.hash = stored.hash
      head.position = position
      written.push(stored)
      known.set(stored.id, { id: stored.id, session, position, version: stored.version })
      if (index >= prelude.length) refs.push({ id: stored.id, position, version: stored.version })
    }
    heads.set(session, head)
    changed.add(session)
    return { ok: true, duplicate: false, version: head.version, events: refs }
  })

  if (written.length === 0) return { results, last: 0 }
  await writeRows(tx, written, [...changed].map((id) => [id, heads.get(id)!] as const), position, channel)
  for (const hook of hooks) await hook(tx, written)
  return { results, last: position }
}

function sealEvent(
  event: IdentifiedEvent, session: string, version: number, position: number, prevHash: string, recordedAt: string,
): StoredEvent {
  if (event.payload && 'update' in event.data) {
    throw new TypeError(`event ${event.id}: a payload event must not also carry data.update`)
  }
  const meta = {
    causationId: event.meta?.causationId ?? null,
    correlationId: event.meta?.correlationId ?? null,
    ...(event.meta?.rationale !== undefined ? { rationale: event.meta.rationale } : {}),
  }
  const fields = {
    id: event.id, session, version, type: event.type,
    data: jsonData(event.data, event.payload), actor: event.actor, meta, recordedAt,
  }
  const hash = chainHash(prevHash, fields)
  return { ...fields, data: event.data, payload: event.payload, position, hash, prevHash }
}

/**
 * Writes the batch's rows, the session heads, the log head and the wake-up in ONE statement
 * whose text never changes (rows travel as one JSON parameter), so it is planned once per
 * connection and costs a single round trip however many events the batch holds.
 */
const WRITE_BATCH_SQL = `
  WITH rows AS (
    SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS r(
      position bigint, id uuid, session_id text, version int, type text, data jsonb, payload text,
      actor jsonb, meta jsonb, recorded_at timestamptz, hash text, prev_hash text)
  ), inserted AS (
    INSERT INTO events (position, id, session_id, version, type, data, payload, actor, meta, recorded_at, hash, prev_hash)
    SELECT position, id, session_id, version, type, data, decode(payload, 'base64'), actor, meta, recorded_at, hash, prev_hash
    FROM rows ORDER BY position
  ), heads AS (
    INSERT INTO sessions (id, version, hash, position, created_at, updated_at)
    SELECT id, version, hash, position, created_at, updated_at FROM jsonb_to_recordset($2::text::jsonb) AS h(
      id text, version int, hash text, position bigint, created_at timestamptz, updated_at timestamptz)
    ON CONFLICT (id) DO UPDATE SET version = excluded.version, hash = excluded.hash,
      position = excluded.position, updated_at = excluded.updated_at
  ), moved AS (
    UPDATE log_head SET position = $3::bigint
  )
  SELECT pg_notify($4::text, $3::text)`

async function writeRows(
  tx: SqlExecutor, events: StoredEvent[], heads: (readonly [string, Head])[], position: number, channel: string,
): Promise<void> {
  const rows = events.map((e) => ({
    position: e.position, id: e.id, session_id: e.session, version: e.version, type: e.type, data: e.data,
    payload: e.payload ? Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).toString('base64') : null,
    actor: e.actor, meta: e.meta, recorded_at: e.recordedAt, hash: e.hash, prev_hash: e.prevHash,
  }))
  const now = new Date().toISOString()
  const headRows = heads.map(([id, head]) => ({
    id, version: head.version, hash: head.hash, position: head.position, created_at: head.createdAt, updated_at: now,
  }))
  await tx.query(WRITE_BATCH_SQL, [JSON.stringify(rows), JSON.stringify(headRows), String(position), channel])
}
