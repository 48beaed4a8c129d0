/**
 * Appending with group commit: appends that arrive while batches are in flight wait and are
 * then written together in the next batch. A batch is one call of the database function
 * `mnemo_append` (migrations/0004) in autocommit: one round trip that locks the log, judges
 * each append on its own (idempotency, expectedVersion), writes, chains, moves the heads and
 * notifies. Batches are pipelined on the driver's writer lane (`queryInOrder`): the next one is
 * sealed and sent while the one before it commits, and they execute in the order they were
 * sent, so appends still take positions in the order they were made. If a batch fails, each of
 * its appends is retried alone so that one bad append cannot sink its neighbours (those
 * retries may land behind batches sent meanwhile).
 *
 * A batch holding events an append hook acts on (the memory projection) is instead a
 * transaction, `mnemo_append` and then the hooks. On PostgreSQL it goes on the writer lane too
 * (`transactionInOrder`): BEGIN travels with `mnemo_append`, behind the batches before it, and the
 * batches after it are held back only until its COMMIT is sent, then run after that commit on
 * the same connection. Where there is no lane (PGlite), it runs alone: it waits for the batches
 * before it and holds back the ones after it until it has committed.
 */
import { randomUUID } from 'node:crypto'
import { chainBody } from './hash.js'
import { jsonData } from './rows.js'
import type {
  AppendedRef, AppendHook, AppendOptions, AppendResult, EventMeta, NewEvent, SqlDriver, SqlExecutor, StoredEvent,
} from './types.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MAX_EVENTS_PER_BATCH = 5000
/**
 * Batches sent and not yet answered. Two keep the database busy: one commits while the next
 * waits for the lock inside PostgreSQL; more would only make batches smaller.
 */
const MAX_BATCHES_IN_FLIGHT = 2

type IdentifiedEvent = NewEvent & { id: string }

interface PendingAppend {
  /** When it was queued (performance.now()). */
  queuedAt: number
  session: string
  events: IdentifiedEvent[]
  ifNew: IdentifiedEvent[]
  expectedVersion?: number
  resolve(result: AppendResult): void
  reject(error: unknown): void
}

/**
 * Told of each batch once it is answered: its events, how long its oldest append waited to be
 * sent, and the database's round trip (ms). Failed batches are not reported.
 */
export type BatchObserver = (batch: {
  events: number; waitedMs: number; databaseMs: number
  /** The events written, by type (duplicates and refused appends not counted). */
  written: ReadonlyMap<string, number>
}) => void

export interface RegisteredHook {
  run: AppendHook
  types?: ReadonlySet<string>
}

export interface Appender {
  append(session: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>
  /** Resolves once the batches in flight now have settled (at once when none is). */
  settled(): Promise<void>
  /** Resolves when everything queued so far is written (or failed). */
  flush(): Promise<void>
}

export function createAppender(
  driver: SqlDriver,
  { channel, notifying = () => true, carryAs, hooks: given = [], onCommitted, observeBatch }: {
    channel: string
    /** Whether anyone else listens on `channel`: while not, batches notify nobody (migrations/0011). Asked at every batch. */
    notifying?: () => boolean
    /**
     * This process's tag when its notifications should carry what it wrote (migrations/0010),
     * for the other instances to take without a read; null when nobody else listens.
     */
    carryAs?: () => string | null
    hooks?: readonly AppendHook[]; onCommitted(written: StoredEvent[]): void; observeBatch?: BatchObserver
  },
): Appender {
  const hooks: RegisteredHook[] = given.map((run) => ({ run, types: run.types ? new Set(run.types) : undefined }))
  const queue: PendingAppend[] = []
  // Set and cleared synchronously inside drain(), so an append queued at any moment either
  // finds the loop running (and is picked up by it) or starts a new one.
  let draining: Promise<void> | undefined
  // Wakes a drain loop that waits for a batch to settle when an append arrives: the next batch
  // goes out while the one before it commits, not after.
  let arrived: (() => void) | undefined
  // Batches sent and not yet settled.
  const inFlight = new Set<Promise<void>>()

  function append(session: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new TypeError('append needs at least one event')
    const ifNew = (options.ifNew ?? []).map(withId)
    const identified = events.map(withId)
    return new Promise<AppendResult>((resolve, reject) => {
      queue.push({ queuedAt: performance.now(), session, events: identified, ifNew, expectedVersion: options.expectedVersion, resolve, reject })
      if (!draining) draining = drain()
      else arrived?.()
    })
  }

  async function drain(): Promise<void> {
    await Promise.resolve() // let appends made in the same tick join the first batch
    while (queue.length > 0 || inFlight.size > 0) {
      if (queue.length === 0 || inFlight.size >= MAX_BATCHES_IN_FLIGHT) {
        const waits: Promise<void>[] = [...inFlight]
        if (queue.length === 0) waits.push(new Promise<void>((resolve) => { arrived = resolve }))
        await Promise.race(waits)
        arrived = undefined
        continue
      }
      const batch = sealBatch(takeBatch())
      if (batch.appends.length === 0) continue
      if (needsHooks(batch)) {
        if (driver.transactionInOrder) {
          // On the writer lane behind the batches before it; the next goes out once its COMMIT has.
          let release!: () => void
          const released = new Promise<void>((resolve) => { release = resolve })
          const sent: Promise<void> = settle(batch, true, release).finally(() => inFlight.delete(sent))
          inFlight.add(sent)
          await Promise.race([released, sent])
          continue
        }
        await Promise.all(inFlight)
        const alone: Promise<void> = settle(batch, true).finally(() => inFlight.delete(alone))
        inFlight.add(alone)
        await alone
        continue
      }
      const sent: Promise<void> = settle(batch, false).finally(() => inFlight.delete(sent))
      inFlight.add(sent)
    }
    draining = undefined
  }

  function takeBatch(): PendingAppend[] {
    // One splice per batch: shift() per append is quadratic when thousands are queued.
    // An event id already in the batch ends it: the retry of an append must see the first
    // attempt committed, to be recognised as its duplicate.
    const ids = new Set<string>()
    let take = 0
    let count = 0
    while (take < queue.length) {
      const pending = queue[take]
      const size = pending.events.length + pending.ifNew.length
      if (take > 0 && (count + size > MAX_EVENTS_PER_BATCH || pending.events.some((e) => ids.has(e.id)))) break
      for (const e of pending.events) ids.add(e.id)
      count += size
      take += 1
    }
    return queue.splice(0, take)
  }

  function needsHooks(batch: SealedBatch): boolean {
    return hooks.some((hook) => !hook.types || batch.appends.some((a) => [...a.prelude, ...a.events].some((e) => hook.types!.has(e.type))))
  }

  /**
   * Writes `batch` and settles its appends; never throws. With `released`, a batch with hooks is
   * a transaction on the writer lane (`transactionInOrder`), which calls it once the lane is free;
   * its retries, made while other batches may be on the lane, are transactions of their own.
   */
  async function settle(batch: SealedBatch, withHooks: boolean, released?: () => void): Promise<void> {
    try {
      const results = await write(batch, withHooks, released)
      batch.appends.forEach((a, i) => a.pending.resolve(results[i]))
    } catch (error) {
      released?.()
      if (batch.appends.length === 1) {
        batch.appends[0].pending.reject(error)
        return
      }
      for (const one of batch.appends) {
        const alone = batchOf([one], batch.recordedAt)
        try {
          one.pending.resolve((await write(alone, withHooks && needsHooks(alone)))[0])
        } catch (single) {
          one.pending.reject(single)
        }
      }
    }
  }

  async function write(batch: SealedBatch, withHooks: boolean, released?: () => void): Promise<AppendResult[]> {
    const params = notifying() ? batchParams(batch, channel, carryAs?.() ?? null) : batchParams(batch, null, null)
    const sentAt = performance.now()
    const withinTransaction = async (tx: SqlExecutor) => {
      const outcome = readOutcome(batch, (await tx.query<{ answer: AppendRow }>(APPEND_SQL, params))[0].answer)
      if (outcome.written.length > 0) for (const hook of hooks) await hook.run(tx, outcome.written)
      return outcome
    }
    const { results, written } = !withHooks
      ? readOutcome(batch, (await driver.queryInOrder<{ answer: AppendRow }>(APPEND_SQL, params))[0].answer)
      : released && driver.transactionInOrder
        ? await driver.transactionInOrder(withinTransaction, released)
        : await driver.transaction(withinTransaction)
    if (written.length > 0) onCommitted(written)
    if (observeBatch && batch.appends.length > 0) {
      const answeredAt = performance.now()
      let events = 0
      let oldest = sentAt
      for (const a of batch.appends) {
        events += a.events.length
        oldest = Math.min(oldest, a.pending.queuedAt)
      }
      const byType = new Map<string, number>()
      for (const event of written) byType.set(event.type, (byType.get(event.type) ?? 0) + 1)
      observeBatch({ events, waitedMs: sentAt - oldest, databaseMs: answeredAt - sentAt, written: byType })
    }
    return results
  }

  return {
    append,
    async settled() {
      await Promise.all(inFlight)
    },
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

/** An event with everything but its version, position and hashes fixed. */
interface SealedEvent {
  id: string
  type: string
  data: Record<string, unknown>
  payload?: Uint8Array
  actor: NewEvent['actor']
  meta: EventMeta
  /** Its canonical JSON up to `"version":` (see hash.ts). */
  body: string
}

interface SealedAppend {
  pending: PendingAppend
  prelude: SealedEvent[]
  events: SealedEvent[]
  /** The append names one event id twice. */
  twice: boolean
}

interface SealedBatch {
  appends: SealedAppend[]
  recordedAt: string
}

/** Seals every append of the batch; one that cannot be sealed is rejected alone. */
function sealBatch(pendings: PendingAppend[]): SealedBatch {
  const recordedAt = new Date().toISOString()
  const appends: SealedAppend[] = []
  for (const pending of pendings) {
    try {
      appends.push({
        pending,
        prelude: pending.ifNew.map((e) => sealEvent(e, pending.session, recordedAt)),
        events: pending.events.map((e) => sealEvent(e, pending.session, recordedAt)),
        twice: new Set(pending.events.map((e) => e.id)).size !== pending.events.length,
      })
    } catch (error) {
      pending.reject(error)
    }
  }
  return batchOf(appends, recordedAt)
}

const batchOf = (appends: SealedAppend[], recordedAt: string): SealedBatch => ({ appends, recordedAt })

function sealEvent(event: IdentifiedEvent, session: string, recordedAt: string): SealedEvent {
  if (event.payload && 'update' in event.data) {
    throw new TypeError(`event ${event.id}: a payload event must not also carry data.update`)
  }
  const meta: EventMeta = {
    causationId: event.meta?.causationId ?? null,
    correlationId: event.meta?.correlationId ?? null,
    ...(event.meta?.rationale !== undefined ? { rationale: event.meta.rationale } : {}),
  }
  const body = chainBody({
    id: event.id, session, type: event.type, data: jsonData(event.data, event.payload), actor: event.actor, meta, recordedAt,
  })
  return { id: event.id, type: event.type, data: event.data, payload: event.payload, actor: event.actor, meta, body }
}

// Flags travel as 0/1: postgres.js (3.4) types an array of booleans as a single boolean.
// The answer comes back as one JSON value: the driver fetches no array types (see
// postgresDriver.ts), and JSON reads the same on both drivers.
const APPEND_SQL = `SELECT to_json(a) AS answer FROM mnemo_append($1::text[], $2::int[], $3::int[]::boolean[], $4::int[], $5::int[], $6::int[],
  $7::int[]::boolean[], $8::uuid[], $9::text, $10::int[]::boolean[], $11::timestamptz, $12::text, $13::text) AS a`

const flag = (value: boolean) => (value ? 1 : 0)

function batchParams(batch: SealedBatch, channel: string | null, origin: string | null): unknown[] {
  const sessions: string[] = []
  const index = new Map<string, number>()
  const events = batch.appends.flatMap((a) => [...a.prelude, ...a.events])
  for (const { pending } of batch.appends) {
    if (!index.has(pending.session)) index.set(pending.session, sessions.push(pending.session))
  }
  return [
    sessions,
    batch.appends.map((a) => index.get(a.pending.session)!),
    batch.appends.map((a) => flag(a.pending.expectedVersion !== undefined)),
    batch.appends.map((a) => a.pending.expectedVersion ?? 0),
    batch.appends.map((a) => a.prelude.length),
    batch.appends.map((a) => a.events.length),
    batch.appends.map((a) => flag(a.twice)),
    events.map((e) => e.id),
    events.map((e) => e.body).join('\n'),
    events.map((e) => flag(e.payload !== undefined)),
    batch.recordedAt,
    channel,
    origin,
  ]
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

/** A session's head as `writeRows` stores it. */
export interface HeadRow {
  id: string
  version: number
  hash: string
  position: number
  createdAt: string
  updatedAt: string
}

/**
 * The one writer of the log's rows: inserts `events` (sealed: positions, versions and hashes
 * set), upserts `heads`, moves the log head to `position` and notifies `channel`. The caller
 * holds the log's lock (`lockLog`) in `tx`.
 */
export async function writeRows(
  tx: SqlExecutor, events: StoredEvent[], heads: HeadRow[], position: number, channel: string,
): Promise<void> {
  const rows = events.map((e) => ({
    position: e.position, id: e.id, session_id: e.session, version: e.version, type: e.type, data: e.data,
    payload: e.payload ? Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).toString('base64') : null,
    actor: e.actor, meta: e.meta, recorded_at: e.recordedAt, hash: e.hash, prev_hash: e.prevHash,
  }))
  const headRows = heads.map((head) => ({
    id: head.id, version: head.version, hash: head.hash, position: head.position,
    created_at: head.createdAt, updated_at: head.updatedAt,
  }))
  await tx.query(WRITE_BATCH_SQL, [JSON.stringify(rows), JSON.stringify(headRows), String(position), channel])
}

interface AppendRow {
  outcomes: string[]
  versions: number[]
  ref_counts: number[]
  positions: (string | number)[]
  event_versions: number[]
  hashes: (string | null)[]
  prev_hashes: (string | null)[]
}

/** The function's answer as one result per append, and the events it wrote (for hooks). */
function readOutcome(batch: SealedBatch, row: AppendRow): { results: AppendResult[]; written: StoredEvent[] } {
  const written: StoredEvent[] = []
  let next = 0
  const results = batch.appends.map((a, i): AppendResult => {
    const count = row.ref_counts[i]
    const version = row.versions[i]
    const refs: AppendedRef[] = []
    const from = next
    next += count
    switch (row.outcomes[i]) {
      case 'ok': {
        const sealed = count > a.events.length ? [...a.prelude, ...a.events] : a.events
        for (let k = 0; k < count; k++) {
          const e = sealed[k]
          const stored: StoredEvent = {
            id: e.id, session: a.pending.session, position: Number(row.positions[from + k]), version: row.event_versions[from + k],
            type: e.type, data: e.data, payload: e.payload, actor: e.actor, meta: e.meta, recordedAt: batch.recordedAt,
            hash: row.hashes[from + k]!, prevHash: row.prev_hashes[from + k]!,
          }
          written.push(stored)
          if (k >= count - a.events.length) refs.push({ id: e.id, position: stored.position, version: stored.version })
        }
        return { ok: true, duplicate: false, version, events: refs }
      }
      case 'duplicate':
        for (let k = 0; k < count; k++) {
          refs.push({ id: a.events[k].id, position: Number(row.positions[from + k]), version: row.event_versions[from + k] })
        }
        return { ok: true, duplicate: true, version, events: refs }
      case 'other_session':
        return { ok: false, reason: 'id_conflict', message: 'these event ids were already recorded in another session' }
      case 'partly_known':
        return { ok: false, reason: 'id_conflict', message: 'some of these event ids were already recorded, others not: send them again as they were first sent' }
      case 'twice':
        return { ok: false, reason: 'id_conflict', message: 'the same event id appears twice in one append' }
      case 'version_conflict':
        return { ok: false, reason: 'version_conflict', expected: a.pending.expectedVersion!, actual: version }
      default:
        throw new Error(`mnemo_append answered "${row.outcomes[i]}" for an append: is migration 0004 out of date?`)
    }
  })
  return { results, written }
}
