/**
 * The event store's vocabulary: what is appended, what is read back, and the
 * `EventStore` interface that the PostgreSQL (postgres.js) and PGlite drivers share.
 */
import type { VersionRange } from './queries/readVersions.js'
import type { TimelinePoint } from './queries/timelinePoints.js'
import type { SealedEvent, SealedResult } from './appendSealed.js'
import type { DocChangeRecord, DocChangesQuery } from './queries/readDocChanges.js'

export type { DocChangeRecord, DocChangesQuery, SealedEvent, SealedResult, TimelinePoint, VersionRange }

import type { Actor } from '../vocabulary.js'

/** Who produced an event (defined with the shared vocabulary); part of every event's hash. */
export type { Actor }

export interface EventMeta {
  causationId: string | null
  correlationId: string | null
  rationale?: string
}

/** An event as a writer hands it to `append`. */
export interface NewEvent {
  /** Idempotency key (uuid); generated when absent. */
  id?: string
  type: string
  data: Record<string, unknown>
  /**
   * Binary payload (a Yjs update), kept in a `bytea` column. In the JSON envelope it
   * appears as `data.update`, base64-encoded, and that is what the hash covers.
   */
  payload?: Uint8Array
  actor: Actor
  meta?: Partial<EventMeta>
}

/** An event as it is stored and read back. */
export interface StoredEvent {
  id: string
  session: string
  position: number
  version: number
  type: string
  data: Record<string, unknown>
  payload?: Uint8Array
  actor: Actor
  meta: EventMeta
  recordedAt: string
  hash: string
  prevHash: string
}

/** The event envelope of the SPEC, as JSON goes over HTTP and into exports. */
export interface EventEnvelope {
  id: string
  session: string
  position: number
  version: number
  type: string
  data: Record<string, unknown>
  actor: Actor
  meta: EventMeta
  recordedAt: string
  hash: string
  prevHash: string
}

export interface AppendOptions {
  /** The session's version the writer last saw (0: the session must not exist yet). */
  expectedVersion?: number
  /**
   * Events written first, in the same transaction, when the session does not exist
   * yet (its `session.created`). Ignored for an existing session.
   */
  ifNew?: NewEvent[]
}

export interface AppendedRef {
  id: string
  position: number
  version: number
}

/** Expected outcomes are results; bugs and outages are thrown. */
export type AppendResult =
  | { ok: true; events: AppendedRef[]; duplicate: boolean; version: number }
  | { ok: false; reason: 'version_conflict'; expected: number; actual: number }
  | { ok: false; reason: 'id_conflict'; message: string }

export interface ReadOptions {
  /** Exclusive lower bound on position. */
  after?: number
  /** Inclusive upper bound on position. */
  until?: number
  limit?: number
  /** Type filters: exact names or prefix patterns like `memory.*`. */
  types?: string[]
}

export interface SubscribeOptions {
  after?: number
  session?: string
  types?: string[]
}

export interface Subscription {
  /** Resolves once the subscription has stopped. */
  close(): Promise<void>
  /** The position up to which the log has been read (delivered, or not of this subscription). */
  position(): number
}

export interface SessionHead {
  id: string
  version: number
  position: number
  hash: string
  createdAt: string
  updatedAt: string
}

export interface VerifyResult {
  ok: boolean
  checked: number
  firstBad?: number
  reason?: string
}

export interface HeadAndSnapshot {
  /** Undefined: the session does not exist. */
  head: SessionHead | undefined
  snapshot: Snapshot | undefined
}

export interface Snapshot {
  session: string
  version: number
  position: number
  state: Uint8Array
  createdAt: string
}

/**
 * Work done inside the append transaction, after the events are inserted: the memory
 * graph projection keeps its tables in step with the log this way.
 */
export type AppendHook = ((tx: SqlExecutor, events: StoredEvent[]) => Promise<void>) & {
  /**
   * The event types the hook acts on. A batch with none of them is written without the
   * hook, in one round trip; a hook without `types` makes every batch a transaction.
   */
  readonly types?: readonly string[]
}

/** The minimal SQL surface both drivers provide. Parameters are `$1`, `$2`, … */
export interface SqlExecutor {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>
}

export interface SqlDriver extends SqlExecutor {
  readonly kind: 'pglite' | 'postgres'
  /** Runs several statements at once (migrations). */
  exec(text: string): Promise<void>
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  /**
   * Runs one statement in autocommit on the driver's writer lane: statements given here
   * execute in the order they were given, each sent without waiting for the ones before
   * it (pipelined), so the next append batch travels while the current one commits.
   */
  queryInOrder<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>
  /**
   * A transaction on the writer lane, in order with `queryInOrder`'s statements; `released` is
   * called once the lane may take the next statements (COMMIT or ROLLBACK is on its way), and
   * until then the caller sends none. Absent where the driver has no lane of its own (PGlite,
   * a pool of one): `transaction` then.
   */
  transactionInOrder?<T>(fn: (tx: SqlExecutor) => Promise<T>, released: () => void): Promise<T>
  /**
   * Calls `onNotify` for every NOTIFY on `channel`, and with '' after a gap in which some may
   * have been lost (a renewed LISTEN: readers read); resolves to an unlisten function.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

export interface EventStore {
  readonly driver: SqlDriver
  append(session: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>
  /**
   * Writes a new session of sealed events (an import: ids, versions, times and hashes kept;
   * positions are this log's own), in one transaction, with the same writer and hooks as `append`.
   */
  appendSealed(session: string, chunks: AsyncIterable<SealedEvent[]>): Promise<SealedResult>
  read(session: string, options?: ReadOptions): Promise<StoredEvent[]>
  readAll(options?: ReadOptions): Promise<StoredEvent[]>
  /** Catches up from the log, then goes live; never skips an event, never delivers one twice. */
  subscribe(options: SubscribeOptions, handler: (event: StoredEvent) => Promise<void> | void): Subscription
  head(session: string): Promise<SessionHead | undefined>
  /** The session's head and its newest snapshot, read together in one statement (a room's load). */
  headAndSnapshot(session: string): Promise<HeadAndSnapshot>
  listSessions(): Promise<SessionHead[]>
  /** The position of the newest event of all sessions (0 when empty). */
  lastPosition(): Promise<number>
  /**
   * The log's events after position `after`, through `through` at least, from this process's
   * memory of the newest commits (recentCommits.ts), with no read: its own commits as they are
   * answered, other instances' as its feed has them. Undefined when memory does not hold every
   * one of them (evicted, or not read from another instance yet): read the log then.
   */
  recentThrough(after: number, through: number): StoredEvent[] | undefined
  /** The session's events with `after < version ≤ through`, in order. */
  readVersions(session: string, range: VersionRange): Promise<StoredEvent[]>
  /** The session's last event at or before `position`. */
  lastEventAt(session: string, position: number): Promise<TimelinePoint | undefined>
  /** The session's last event recorded at or before `time`. */
  lastEventBy(session: string, time: Date): Promise<TimelinePoint | undefined>
  /** The session's `doc.update` summaries (no payloads) in a range, oldest first: at most `limit` (≤ 10 000). */
  readDocChanges(session: string, query: DocChangesQuery): Promise<DocChangeRecord[]>
  /** The session's newest `limit` events of these exact types, oldest first. */
  readNewestOfTypes(session: string, types: readonly string[], limit: number): Promise<StoredEvent[]>
  verify(session: string): Promise<VerifyResult>
  saveSnapshot(snapshot: Omit<Snapshot, 'createdAt'>): Promise<void>
  /** The newest snapshot at or before `position` (default: the newest). */
  loadSnapshot(session: string, atOrBefore?: number): Promise<Snapshot | undefined>
  /** The positions of the session's snapshots. */
  snapshotPositions(session: string): Promise<number[]>
  /** Pings the database. */
  ping(): Promise<void>
  /**
   * Whether another process that follows this log announced itself lately (createEventStore.ts):
   * an instance that started a moment ago, before any registry read shows it, or a CLI.
   */
  othersListening(): boolean
  close(): Promise<void>
}
