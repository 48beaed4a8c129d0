/**
 * The server driver: postgres.js against a real PostgreSQL. An optional `schema` puts every
 * table in that schema (tests give each file its own). It outlives its connections: a
 * database restart or pg_terminate_backend fails the work in flight, never the process,
 * and leaves no pool behind that postgres.js (3.4) would wedge: see `renew`, `transaction`.
 * It changes nothing outside itself: no process-wide handlers.
 */
import postgres from 'postgres'
import { openListening } from './pgListen.js'
import type { SqlDriver, SqlExecutor } from './types.js'

export interface PostgresDriverOptions {
  url: string
  schema?: string
  /** Pool size (default 10). */
  max?: number
  /** How often the LISTEN connection is proven alive, in ms (default 5,000; 0: never): pgListen.ts. */
  listenCheckMs?: number
  /** Told, with why, each time the LISTEN connection was found dead and replaced. */
  onListenRenewed?(reason: string): void
}

export function openPostgresDriver({ url, schema, max = 10, listenCheckMs = 5_000, onListenRenewed = () => {} }: PostgresDriverOptions): SqlDriver {
  // How often each connection (by postgres.js's id, unique across pools) has closed: a
  // transaction's connection is gone when its count moved. Transactions watch their own.
  const closes = new Map<number, number>()
  const closeWatchers = new Map<number, Set<() => void>>()
  let closing = false
  // The database did not answer lately: transactions make sure it does before reserving.
  let unreachable = false

  const connectionOptions = {
    onnotice: () => {},
    // postgres.js fetches the array types on each new connection from a promise nobody awaits:
    // a connection killed during that first query (a restart, pg_terminate_backend, the pool
    // replaced below) would be an unhandled rejection, which ends a Node process. So nothing
    // is fetched: arrays go as array literals (`toWire`) into explicit `::text[]` casts, and
    // array columns are read as JSON.
    fetch_types: false,
    // Prepared statements (see `run`) planned for each execution all the same: a generic plan
    // made while the log was small would go on scanning it once it is large.
    connection: { plan_cache_mode: 'force_custom_plan', ...(schema ? { search_path: schema } : {}) },
    // A dead server must not hang callers for long; the app retries with backoff.
    connect_timeout: 5,
    // postgres.js waits up to 20 s between attempts after failures; once the database is back,
    // a collaboration server should be within 2 s (and still never hammers it).
    backoff: (attempt: number) => (0.5 + Math.random() / 2) * Math.min(3 ** attempt / 100, 2),
  } satisfies postgres.Options<Record<string, never>>
  const openPool = () => postgres(url, {
    ...connectionOptions,
    max,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    onclose(id) {
      closes.set(id, (closes.get(id) ?? 0) + 1)
      for (const watcher of closeWatchers.get(id) ?? []) watcher()
    },
  })
  let sql = openPool()

  /**
   * Replaces the pool after one of its connections died in use. postgres.js keeps a write
   * that was pending when a connection closed and never flushes it after reconnecting: that
   * connection's next attempts hang until `connect_timeout`, again and again (its stale
   * buffer is not reset; the fix is not released). A fresh pool has no such connection. The
   * old one is closed at once, failing what it still runs or queues (callers retry): a graceful
   * end() would strand the queries still waiting there for a connection, never to settle.
   * Each pool is replaced at most once.
   */
  function renew(pool: postgres.Sql, error: unknown, always = false): void {
    if (closing || pool !== sql || !(always || diedInUse(error))) return
    sql = openPool()
    void pool.end({ timeout: 0 }).catch(() => {})
  }

  // LISTEN on a connection of its own, kept listening and proven alive (pgListen.ts).
  const listening = openListening({
    open: (extra) => postgres(url, { ...connectionOptions, ...extra, idle_timeout: undefined, max_lifetime: null }),
    query: (text, params) => query(text, params),
    checkMs: listenCheckMs,
    onRenewed: onListenRenewed,
  })

  // Named prepared statements, cached per connection: postgres.js sends an unnamed statement
  // with parameters as Parse+Describe, waits for the parameter types, and only then binds and
  // executes: two round trips per query. Prepared, each text costs that once per connection and
  // one round trip afterwards. The texts are fixed (a handful vary with a count of types).
  const run = async <T>(pool: postgres.Sql | postgres.ReservedSql, text: string, params: unknown[]): Promise<T[]> => {
    const rows = await pool.unsafe(text, params.map(toWire) as postgres.ParameterOrJSON<never>[], { prepare: params.length > 0 })
    return rows as unknown as T[]
  }

  async function query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const pool = sql
    try {
      const rows = await run<T>(pool, text, params)
      unreachable = false
      return rows
    } catch (error) {
      if (isConnectionError(error)) unreachable = true
      renew(pool, error)
      throw error
    }
  }

  /**
   * A reserved connection. A reserve() whose connection attempt fails stays queued in the
   * pool although it was rejected, and later swallows a connection that then serves nobody:
   * after a few failures during an outage, the pool hangs for good. And with `fetch_types:
   * false`, a reserve() that has to open a connection never resolves (postgres.js 3.4.9
   * hands the new connection to nobody). So a plain query (which has neither flaw) goes
   * first, leaving an open connection for reserve() to take, and a pool in which a reserve()
   * failed all the same is replaced.
   */
  async function reserve(): Promise<{ pool: postgres.Sql; reserved: postgres.ReservedSql }> {
    await query('SELECT 1')
    const pool = sql
    try {
      return { pool, reserved: await pool.reserve() }
    } catch (error) {
      unreachable = true
      renew(pool, error, true)
      throw error
    }
  }

  /**
   * A transaction on a reserved connection. postgres.js's own `sql.begin` kills the process
   * when the connection dies mid-transaction: its ROLLBACK (or the callback's next query) is
   * written to the closed socket from a setImmediate, where the TypeError is nobody's to catch
   * (porsager/postgres#1208). So here nothing more is sent on a connection once it closed:
   * no query (it fails instead), no ROLLBACK (the server rolled back with the session), and
   * it is not handed back to the pool. And the transaction fails as soon as its connection
   * closes: queries postgres.js queued for a reserved connection never settle when it dies.
   */
  async function transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const { pool, reserved } = await reserve()
    let id: number | undefined
    let closesAtStart = 0
    let fail: (error: Error) => void = () => {}
    const closed = new Promise<never>((_, reject) => {
      fail = reject
    })
    closed.catch(() => {}) // raced below; never settles when the connection outlives us
    const watcher = () => fail(connectionGone())
    // The connection's id, taken as BEGIN goes out, the way postgres.js's begin() takes it.
    const onexecute = (connection: { id: number }) => {
      id = connection.id
      closesAtStart = closes.get(id) ?? 0
      const watchers = closeWatchers.get(id) ?? new Set()
      watchers.add(watcher)
      closeWatchers.set(id, watchers)
      return true
    }
    const untilClosed = <R>(work: Promise<R>) => Promise.race([work, closed])
    const gone = () => id !== undefined && (closes.get(id) ?? 0) !== closesAtStart
    const tx: SqlExecutor = {
      query<R>(text: string, params: unknown[] = []) {
        return gone() ? Promise.reject(connectionGone()) : run<R>(reserved, text, params)
      },
    }
    try {
      await untilClosed(reserved.unsafe('BEGIN', [], { onexecute } as postgres.UnsafeQueryOptions))
      if (id === undefined) throw new Error('postgres.js did not name the transaction\'s connection: is it still version 3.4?')
      const result = await untilClosed(fn(tx))
      if (gone()) throw connectionGone()
      await untilClosed(reserved.unsafe('COMMIT'))
      return result
    } catch (error) {
      if (gone()) renew(pool, error)
      else await untilClosed(reserved.unsafe('ROLLBACK')).catch(() => {})
      throw error
    } finally {
      const watchers = id === undefined ? undefined : closeWatchers.get(id)
      if (watchers?.delete(watcher) && watchers.size === 0) closeWatchers.delete(id!)
      if (!gone()) reserved.release()
    }
  }

  /**
   * The writer lane: one reserved connection of the pool (reads and transactions share the rest). postgres.js writes each statement given to a
   * reserved connection at once (pipelining) and PostgreSQL runs a connection's statements
   * one after another, so they execute in the order given, each in its own autocommit
   * transaction. Like a transaction, the lane is watched: when its connection closes, what
   * is in flight on it fails at once, and the next statement reserves a new lane.
   */
  interface Lane {
    pool: postgres.Sql
    reserved: postgres.ReservedSql
    gone(): boolean
    closed: Promise<never>
    /** Statements sent on it and not yet settled. */
    pending: number
    /** Dropped: no new statements go to it; it is let go once `pending` is 0. */
    dropped: boolean
    /** False once a statement on it died with its connection: never handed back to the pool. */
    healthy: boolean
    /** Stops watching its connection. */
    detach(): void
  }
  let lane: Lane | undefined

  async function openLane(): Promise<Lane> {
    const { pool, reserved } = await reserve()
    let id: number | undefined
    let closesAtStart = 0
    let fail: (error: Error) => void = () => {}
    const closed = new Promise<never>((_, reject) => {
      fail = reject
    })
    closed.catch(() => {})
    const watcher = () => fail(connectionGone())
    const onexecute = (connection: { id: number }) => {
      id = connection.id
      closesAtStart = closes.get(id) ?? 0
      const watchers = closeWatchers.get(id) ?? new Set()
      watchers.add(watcher)
      closeWatchers.set(id, watchers)
      return true
    }
    const gone = () => id === undefined || (closes.get(id) ?? 0) !== closesAtStart
    const detach = () => {
      const watchers = id === undefined ? undefined : closeWatchers.get(id)
      if (watchers?.delete(watcher) && watchers.size === 0) closeWatchers.delete(id!)
    }
    try {
      await Promise.race([reserved.unsafe('SELECT 1', [], { onexecute } as postgres.UnsafeQueryOptions), closed])
      if (id === undefined) throw new Error('postgres.js did not name the lane\'s connection: is it still version 3.4?')
    } catch (error) {
      detach()
      if (!gone() && !diedInUse(error)) reserved.release()
      renew(pool, error)
      throw error
    }
    return { pool, reserved, gone, closed, pending: 0, dropped: false, healthy: true, detach }
  }

  const usable = (l: Lane | undefined): l is Lane => l !== undefined && !l.gone() && l.pool === sql

  /**
   * Forgets the lane; its connection goes back to the pool only when it is known to be well.
   * Statements still in flight on it keep their watcher until they settle: a lane dropped
   * because its pool was replaced is closed by that pool's end() a moment later, and a
   * statement that lost its watcher then would never settle (postgres.js does not fail what
   * it had sent on a reserved connection that dies), holding every append behind it.
   */
  function dropLane(dropped: Lane, healthy = true): void {
    dropped.healthy &&= healthy
    if (lane !== dropped) return
    lane = undefined
    dropped.dropped = true
    if (dropped.pending === 0) letGo(dropped)
  }

  function letGo(dropped: Lane): void {
    dropped.detach()
    if (dropped.healthy && !dropped.gone() && dropped.pool === sql) dropped.reserved.release()
  }

  // Statements that came while no lane was open, in call order; they go out, still in that
  // order, once the next lane is open, and before any statement that comes after them.
  const waiting: { text: string; params: unknown[]; resolve(rows: unknown[]): void; reject(error: unknown): void }[] = []

  function queryInOrder<T>(text: string, params: unknown[] = []): Promise<T[]> {
    if (waiting.length === 0 && usable(lane)) return onLane<T>(lane, text, params)
    return new Promise<T[]>((resolve, reject) => {
      waiting.push({ text, params, resolve: resolve as (rows: unknown[]) => void, reject })
      if (waiting.length === 1) void openAndDispatch()
    })
  }

  async function openAndDispatch(): Promise<void> {
    if (lane) dropLane(lane)
    try {
      lane = await openLane()
    } catch (error) {
      for (const w of waiting.splice(0)) w.reject(error)
      return
    }
    for (const w of waiting.splice(0)) onLane(lane, w.text, w.params).then(w.resolve, w.reject)
  }

  async function onLane<T>(current: Lane, text: string, params: unknown[]): Promise<T[]> {
    current.pending += 1
    try {
      const rows = await Promise.race([run<T>(current.reserved, text, params), current.closed])
      unreachable = false
      return rows
    } catch (error) {
      if (isConnectionError(error)) unreachable = true
      // The server's FATAL can arrive before postgres.js reports the connection closed.
      if (current.gone() || diedInUse(error)) {
        dropLane(current, false)
        renew(current.pool, error)
      }
      throw error
    } finally {
      current.pending -= 1
      if (current.dropped && current.pending === 0) letGo(current)
    }
  }

  /**
   * A transaction on the writer lane, behind the statements sent on it before: BEGIN goes out
   * with `fn`'s first statement (no round trip of its own), and the lane is `released` for the
   * statements after it as soon as COMMIT (or ROLLBACK) is written, not once it is answered;
   * what is sent next runs after the commit, in order. The caller sends nothing else on the
   * lane until `released` (nothing else must run inside this transaction). Every statement is
   * pinned to the lane it began on: once that connection is gone, the rest fail rather than
   * run in autocommit on a new one, and the transaction counts as rolled back.
   */
  async function transactionInOrder<T>(fn: (tx: SqlExecutor) => Promise<T>, released: () => void): Promise<T> {
    let freed = false
    const free = () => {
      if (freed) return
      freed = true
      released()
    }
    try {
      // A lane, with whatever was queued for it while none was open sent first.
      if (waiting.length > 0 || !usable(lane)) await queryInOrder('SELECT 1')
      const current = lane
      if (!usable(current)) throw connectionGone()
      const on = <R>(text: string, params: unknown[] = []): Promise<R[]> =>
        current.gone() || lane !== current ? Promise.reject(connectionGone()) : onLane<R>(current, text, params)
      const begin = on('BEGIN')
      begin.catch(() => {}) // awaited below, after fn (which fails first if BEGIN did)
      let result: T
      try {
        result = await fn({ query: on })
        await begin
      } catch (error) {
        if (!current.gone() && lane === current) {
          const rollback = on('ROLLBACK')
          free()
          await rollback.catch(() => {})
        }
        throw error
      }
      const commit = on('COMMIT')
      free()
      await commit
      return result
    } finally {
      free()
    }
  }

  return {
    kind: 'postgres',
    query,
    // A pool of one is in order already; reserving its only connection would starve the rest.
    queryInOrder: max > 1 ? queryInOrder : query,
    // A pool of one has no lane of its own: its transactions reserve the connection as usual.
    ...(max > 1 ? { transactionInOrder } : {}),
    async exec(text) {
      await query(text)
    },
    transaction,
    listen: listening.listen,
    async close() {
      closing = true
      if (lane) dropLane(lane)
      await Promise.all([sql.end({ timeout: 5 }), listening.close()])
    },
  }
}

/** postgres.js's own connection errors, sockets' errors, and the server ending the session. */
function isConnectionError(error: unknown): boolean {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown }
  return diedInUse(error) || typeof errno === 'number' || (typeof code === 'string' && code.startsWith('CONNECT'))
}

/** A connection that was up went away under a query (not: could not connect at all). */
function diedInUse(error: unknown): boolean {
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown }
  if (severity === 'FATAL' || severity === 'PANIC') return true
  return typeof code === 'string' && DIED_IN_USE.has(code)
}

const DIED_IN_USE = new Set(['CONNECTION_CLOSED', 'CONNECT_TIMEOUT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

function connectionGone(): Error {
  return Object.assign(new Error('the database connection closed during the transaction; it was rolled back'), {
    code: 'CONNECTION_CLOSED',
  })
}

// JSON goes as text with an explicit ::text::jsonb cast in the SQL, so neither driver
// re-encodes it. postgres.js encodes Buffers as bytea; a bare Uint8Array would be sent as a string.
// Arrays go as array literals, for a `::text[]` (or `::uuid[]`, `::bigint[]`) cast in the SQL.
function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  }
  if (Array.isArray(value)) return arrayLiteral(value)
  return value
}

/** `['a', 'b"c', null]` → `{"a","b\"c",NULL}`: every element quoted, so any text survives. */
export function arrayLiteral(values: readonly unknown[]): string {
  return '{' + values.map((v) => {
    if (v === null || v === undefined) return 'NULL'
    if (Array.isArray(v)) return arrayLiteral(v)
    return '"' + String(v).replace(/[\\"]/g, (c) => '\\' + c) + '"'
  }).join(',') + '}'
}
