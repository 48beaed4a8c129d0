/**
 * The PostgreSQL event store, over either driver: appends (group commit), reads, live
 * subscriptions, the hash-chain check and document snapshots.
 */
import { randomBytes } from 'node:crypto'
import { createAppender, type BatchObserver } from './appendEvents.js'
import { appendSealed } from './appendSealed.js'
import { readNotification } from './carried.js'
import { EVENT_COLUMNS, toStoredEvent, typeFilter, type EventRow } from './rows.js'
import { readDocChanges } from './queries/readDocChanges.js'
import { readNewestOfTypes } from './queries/readNewestOfTypes.js'
import { readVersions } from './queries/readVersions.js'
import { loadSnapshot, saveSnapshot, snapshotOfRow } from './queries/snapshots.js'
import { snapshotPositions } from './queries/snapshotPositions.js'
import { lastEventAt, lastEventBy } from './queries/timelinePoints.js'
import { createRecentCommits } from './recentCommits.js'
import { createNotifier, subscribe } from './subscribe.js'
import { createTailReader } from './tail.js'
import type { AppendHook, EventStore, ReadOptions, SessionHead, Snapshot, SqlDriver, StoredEvent } from './types.js'
import { verifySession } from './verify.js'

export interface EventStoreOptions {
  /** The LISTEN/NOTIFY channel; one per schema so that test schemas do not wake each other. */
  channel?: string
  /** Fallback poll interval of subscriptions, in ms. */
  pollMs?: number
  onError?(error: unknown): void
  /**
   * How often this store says `here` on the channel unasked, in ms (default 20,000); another
   * store counts as listening for three times that after it was last heard.
   */
  announceEveryMs?: number
  /** Work done in every append transaction, in order (projections such as the memory graph). */
  hooks?: readonly AppendHook[]
  /** Told of every batch the appender wrote (metrics). */
  observeBatch?: BatchObserver
  /**
   * Whether other processes read this log (the instance registry sees other live instances):
   * then commits carry their events in their notifications (carried.ts), and the others take
   * them from there instead of reading them back. Asked at every batch; default no.
   */
  carryCommits?: () => boolean
}

const MAX_LIMIT = 10_000

/**
 * Who else listens. Every store announces itself on the channel when it starts listening
 * (`hello <origin>`, which the others answer with `here <origin>`), again after its LISTEN was
 * renewed, and every `announceEveryMs` (`here`). Commits are notified while some other store
 * was heard within three of those, or while `carryCommits` says other instances are live (the
 * registry: instances of a version that does not announce itself); otherwise nobody would hear
 * them but this store's own LISTEN, and they are not sent (migrations/0011). What a store
 * commits in the moment between its hello and the first answer, and whatever a process that
 * neither announces itself nor is in the registry follows, reaches the others by their poll.
 */
const ANNOUNCEMENT = /^(hello|here) ([0-9a-f]{12})$/

export async function createEventStore(driver: SqlDriver, options: EventStoreOptions = {}): Promise<EventStore> {
  const channel = options.channel ?? 'mnemo_events'
  const pollMs = options.pollMs ?? 1000
  const onError = options.onError ?? (() => {})
  const announceEveryMs = options.announceEveryMs ?? 20_000
  const heardForMs = 3 * announceEveryMs
  const hooks = [...(options.hooks ?? [])]
  const notifier = createNotifier()
  // The log's newest events reach subscriptions from memory (recentCommits.ts): this process's
  // commits as they are answered, everyone else's through one shared reader (tail.ts).
  const recent = createRecentCommits()
  const tail = createTailReader({ readAll: (opts) => readAll(opts), recent, notifier, pollMs, onError })
  // This process's tag in the notifications it carries, to know its own from the others'.
  const origin = randomBytes(6).toString('hex')
  const carryCommits = options.carryCommits
  // Other stores heard on the channel: origin → when last (Date.now()).
  const heard = new Map<string, number>()
  const othersAnnounced = (): boolean => {
    const now = Date.now()
    for (const [who, at] of heard) {
      if (now - at < heardForMs) return true
      heard.delete(who)
    }
    return false
  }
  const othersListen = (): boolean => othersAnnounced() || carryCommits?.() === true
  const announce = (word: 'hello' | 'here') => {
    driver.query('SELECT pg_notify($1, $2)', [channel, `${word} ${origin}`]).catch(() => {}) // unheard: the others' polls cover it
  }
  const appender = createAppender(driver, {
    channel, hooks, observeBatch: options.observeBatch, notifying: othersListen,
    carryAs: carryCommits && (() => (carryCommits() ? origin : null)),
    onCommitted(written) {
      recent.committed(written)
      // A hole behind our commit: someone else committed in between.
      if (recent.filledTo() < recent.head()) tail.request()
      notifier.wake()
    },
  })
  // Commits arrive as notifications carrying the log's new head, and another instance's may
  // carry its events too (carried.ts): those go into memory at once, as if read. One without a
  // head (a LISTEN renewed after a lost connection) makes the tail reader read. A failed LISTEN
  // leaves the poll. This process's own notification often arrives before the answer of the
  // batch it announces, and another's can overtake the answer of a batch of ours before it:
  // whether the tail reader must read is judged once the batches in flight have settled, so
  // that our commits are seen to be ours (in memory) rather than read back.
  const onNotify = (payload: string) => {
    const announcement = ANNOUNCEMENT.exec(payload)
    if (announcement) {
      const [, word, who] = announcement
      if (who === origin) return
      heard.set(who!, Date.now())
      if (word === 'hello') announce('here')
      return
    }
    const note = readNotification(payload, origin)
    if (Number.isNaN(note.head)) {
      // '' is the driver's wake-up after LISTEN was renewed: announcements may have been missed too.
      if (payload === '') announce('hello')
      tail.request()
      return
    }
    if (note.events.length > 0) {
      recent.committed(note.events)
      notifier.wake()
    }
    if (note.head <= recent.filledTo()) return
    void appender.settled().then(() => {
      if (note.head > recent.filledTo()) tail.request()
    })
  }
  const unlisten = await driver.listen(channel, onNotify).catch((error: unknown) => {
    onError(error)
    return async () => {}
  })
  announce('hello')
  const announcing = setInterval(() => announce('here'), announceEveryMs)
  announcing.unref()
  // After LISTEN: a commit since is either in this head or notified (or found by the poll).
  recent.startAt(await lastPosition())

  async function lastPosition(): Promise<number> {
    const rows = await driver.query<{ position: string | number }>('SELECT position FROM log_head')
    return Number(rows[0]?.position ?? 0)
  }

  async function selectEvents(where: string[], params: unknown[], opts: ReadOptions): Promise<StoredEvent[]> {
    const clauses = [...where]
    const all = [...params]
    if (opts.after !== undefined) {
      all.push(opts.after)
      clauses.push(`position > $${all.length}`)
    }
    if (opts.until !== undefined) {
      all.push(opts.until)
      clauses.push(`position <= $${all.length}`)
    }
    const filter = typeFilter(opts.types, all.length + 1)
    if (filter) {
      clauses.push(filter.sql)
      all.push(...filter.params)
    }
    all.push(Math.min(Math.max(opts.limit ?? 1000, 1), MAX_LIMIT))
    const rows = await driver.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events ${clauses.length ? 'WHERE ' + clauses.join(' AND ') : ''}
       ORDER BY position LIMIT $${all.length}`,
      all,
    )
    return rows.map(toStoredEvent)
  }

  const read = (session: string, opts: ReadOptions = {}) => selectEvents(['session_id = $1'], [session], opts)
  const readAll = (opts: ReadOptions = {}) => selectEvents([], [], opts)

  return {
    driver,
    append: appender.append,
    async appendSealed(session, chunks) {
      const result = await appendSealed(driver, { channel, hooks }, session, chunks)
      if (result.ok) tail.request()
      return result
    },
    read,
    readAll,
    subscribe: (opts, handler) => subscribe({ read, readAll, notifier, pollMs, onError, shared: { recent, tail } }, opts, handler),
    async head(session) {
      const rows = await driver.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM sessions WHERE id = $1`, [session])
      return rows[0] ? toHead(rows[0]) : undefined
    },
    async headAndSnapshot(session) {
      const rows = await driver.query<HeadAndSnapshotRow>(
        `SELECT s.id, s.version, s.hash, s.position, s.created_at, s.updated_at,
                n.version AS snapshot_version, n.position AS snapshot_position, n.state AS snapshot_state,
                n.parts AS snapshot_parts, n.created_at AS snapshot_created_at
         FROM (SELECT $1::text AS wanted) w
         LEFT JOIN sessions s ON s.id = w.wanted
         LEFT JOIN LATERAL (
           SELECT version, position, state, parts, created_at FROM snapshots
           WHERE session_id = w.wanted ORDER BY position DESC LIMIT 1
         ) n ON true`,
        [session],
      )
      const row = rows[0]!
      const head = row.id === null ? undefined : toHead(row as HeadRow)
      if (row.snapshot_position === null) return { head, snapshot: undefined }
      const snapshot = await snapshotOfRow(driver, session, {
        version: row.snapshot_version!, position: row.snapshot_position, state: row.snapshot_state!,
        parts: row.snapshot_parts!, created_at: row.snapshot_created_at!,
      })
      return { head, snapshot }
    },
    async listSessions() {
      const rows = await driver.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM sessions ORDER BY updated_at DESC, id`)
      return rows.map(toHead)
    },
    lastPosition,
    recentThrough(after, through) {
      if (through > recent.filledTo()) return undefined
      // A run starts at `after + 1` or is empty; it must reach `through`.
      const run = recent.runAfter(after)
      return (run.at(-1)?.position ?? after) < through ? undefined : run
    },
    readVersions: (session, range) => readVersions(driver, session, range),
    lastEventAt: (session, position) => lastEventAt(driver, session, position),
    lastEventBy: (session, time) => lastEventBy(driver, session, time),
    readNewestOfTypes: (session, types, limit) => readNewestOfTypes(driver, session, types, limit),
    readDocChanges: (session, query) => readDocChanges(driver, session, { ...query, limit: Math.min(Math.max(query.limit, 1), MAX_LIMIT) }),
    async verify(session) {
      const rows = await driver.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM sessions WHERE id = $1`, [session])
      const head = rows[0] ? toHead(rows[0]) : undefined
      const through = head?.version
      return verifySession((after) => readVersions(driver, session, { after, through, limit: 1000 }), head)
    },
    saveSnapshot: (snapshot) => saveSnapshot(driver, snapshot),
    loadSnapshot: (session, atOrBefore) => loadSnapshot(driver, session, atOrBefore),
    snapshotPositions: (session) => snapshotPositions(driver, session),
    async ping() {
      await driver.query('SELECT 1')
    },
    othersListening: othersAnnounced,
    async close() {
      clearInterval(announcing)
      await appender.flush()
      tail.close()
      await tail.idle()
      await unlisten().catch(() => {})
      await driver.close()
    },
  }
}

const HEAD_COLUMNS = 'id, version, hash, position, created_at, updated_at'

interface HeadRow {
  id: string
  version: number
  hash: string
  position: string | number
  created_at: Date | string
  updated_at: Date | string
}

type HeadAndSnapshotRow = { [K in keyof HeadRow]: HeadRow[K] | null } & {
  snapshot_version: number | null
  snapshot_position: string | number | null
  snapshot_state: Uint8Array | null
  snapshot_parts: number | null
  snapshot_created_at: Date | string | null
}

function toHead(row: HeadRow): SessionHead {
  return {
    id: row.id, version: row.version, hash: row.hash, position: Number(row.position),
    createdAt: new Date(row.created_at).toISOString(), updatedAt: new Date(row.updated_at).toISOString(),
  }
}
