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
const ROWS_PER_INSERT = 1000
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
  isNew: boolean
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
    version: r.version, hash: r.hash, position: Number(r.position), isNew: false,
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
    const head: Head = current ?? { version: 0, hash: GENESIS_HASH, position: 0, isNew: true, createdAt: now }
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
  for (let i = 0; i < written.length; i += ROWS_PER_INSERT) {
    await insertEvents(tx, written.slice(i, i + ROWS_PER_INSERT))
  }
  await updateHeads(tx, [...changed].map((id) => [id, heads.get(id)!] as const), position, channel)
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

async function insertEvents(tx: SqlExecutor, events: StoredEvent[]): Promise<void> {
  const params: unknown[] = []
  const rows = events.map((e) => {
    const base = params.length
    params.push(e.position, e.id, e.session, e.version, e.type, JSON.stringify(e.data), e.payload ?? null,
      JSON.stringify(e.actor), JSON.stringify(e.meta), e.recordedAt, e.hash, e.prevHash)
    const p = (i: number) => `$${base + i}`
    return `(${p(1)}::bigint, ${p(2)}::uuid, ${p(3)}::text, ${p(4)}::int, ${p(5)}::text, ${p(6)}::text::jsonb, ${p(7)}::bytea, ${p(8)}::text::jsonb, ${p(9)}::text::jsonb, ${p(10)}::timestamptz, ${p(11)}::text, ${p(12)}::text)`
  })
  await tx.query(
    `INSERT INTO events (position, id, session_id, version, type, data, payload, actor, meta, recorded_at, hash, prev_hash) VALUES ${rows.join(', ')}`,
    params,
  )
}

async function updateHeads(tx: SqlExecutor, heads: (readonly [string, Head])[], position: number, channel: string): Promise<void> {
  const params: unknown[] = [position, channel, String(position)]
  const rows: string[] = []
  const now = new Date().toISOString()
  for (const [id, head] of heads) {
    const base = params.length
    params.push(id, head.version, head.hash, head.position, head.createdAt, now)
    rows.push(`($${base + 1}::text, $${base + 2}::int, $${base + 3}::text, $${base + 4}::bigint, $${base + 5}::timestamptz, $${base + 6}::timestamptz)`)
  }
  await tx.query(
    `WITH heads AS (
       INSERT INTO sessions (id, version, hash, position, created_at, updated_at) VALUES ${rows.join(', ')}
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, hash = excluded.hash,
         position = excluded.position, updated_at = excluded.updated_at
     ), moved AS (
       UPDATE log_head SET position = $1::bigint
     )
     SELECT pg_notify($2::text, $3::text)`,
    params,
  )
}
