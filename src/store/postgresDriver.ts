/**
 * The server driver: postgres.js against a real PostgreSQL. An optional `schema` puts every
 * table in that schema (tests give each file its own). Transactions survive their connection
 * dying under them (a restart, pg_terminate_backend): see `transaction` below.
 */
import postgres from 'postgres'
import type { SqlDriver, SqlExecutor } from './types.js'

export interface PostgresDriverOptions {
  url: string
  schema?: string
  /** Pool size (default 10). */
  max?: number
}

export function openPostgresDriver({ url, schema, max = 10 }: PostgresDriverOptions): SqlDriver {
  // How often each pooled connection (by postgres.js's id) has closed: a transaction's
  // connection is gone when its count moved.
  const closes = new Map<number, number>()
  const sql = postgres(url, {
    max,
    onnotice: () => {},
    connection: schema ? { search_path: schema } : {},
    // A dead server must not hang callers forever; the app retries with backoff.
    connect_timeout: 10,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    // postgres.js waits up to 20 s between attempts after failures; once the database is back,
    // a collaboration server should be within 2 s (and still never hammers it).
    backoff: (attempt) => (0.5 + Math.random() / 2) * Math.min(3 ** attempt / 100, 2),
    onclose: (id) => closes.set(id, (closes.get(id) ?? 0) + 1),
  })

  const executor = (target: postgres.Sql | postgres.TransactionSql): SqlExecutor => ({
    async query<T>(text: string, params: unknown[] = []) {
      const rows = await target.unsafe(text, params.map(toWire) as postgres.ParameterOrJSON<never>[])
      return rows as unknown as T[]
    },
  })
  const root = executor(sql)

  return {
    kind: 'postgres',
    query: root.query,
    async exec(text) {
      await sql.unsafe(text)
    },
    transaction,
    async listen(channel, onNotify) {
      const { unlisten } = await sql.listen(channel, onNotify)
      return unlisten
    },
    async close() {
      await sql.end({ timeout: 5 })
    },
  }

  /**
   * A transaction on a reserved connection. postgres.js's own `sql.begin` kills the process
   * when the connection dies mid-transaction: its ROLLBACK (or the callback's next query) is
   * written to the closed socket from a setImmediate, where the TypeError is nobody's to catch
   * (porsager/postgres#1208). So here nothing more is sent on a connection once it closed:
   * no query (it fails instead), no ROLLBACK (the server rolled back with the session), and
   * it is not handed back to the pool (which reconnects it on its own).
   */
  async function transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const reserved = await sql.reserve()
    let id: number | undefined
    let closesAtStart = 0
    // The connection's id, taken as BEGIN goes out, the way postgres.js's begin() takes it.
    const onexecute = (connection: { id: number }) => {
      id = connection.id
      closesAtStart = closes.get(id) ?? 0
      return true
    }
    const gone = () => id !== undefined && (closes.get(id) ?? 0) !== closesAtStart
    const inner = executor(reserved)
    const tx: SqlExecutor = {
      query(text, params) {
        if (gone()) return Promise.reject(connectionGone())
        return inner.query(text, params)
      },
    }
    try {
      await reserved.unsafe('BEGIN', [], { onexecute } as postgres.UnsafeQueryOptions)
      if (id === undefined) throw new Error('postgres.js did not name the transaction\'s connection: is it still version 3.4?')
      const result = await fn(tx)
      if (gone()) throw connectionGone()
      await reserved.unsafe('COMMIT')
      return result
    } catch (error) {
      if (!gone()) await reserved.unsafe('ROLLBACK').catch(() => {})
      throw error
    } finally {
      if (!gone()) reserved.release()
    }
  }
}

function connectionGone(): Error {
  return Object.assign(new Error('the database connection closed during the transaction; it was rolled back'), {
    code: 'CONNECTION_CLOSED',
  })
}

// JSON goes as text with an explicit ::text::jsonb cast in the SQL, so neither driver
// re-encodes it. postgres.js encodes Buffers as bytea; a bare Uint8Array would be sent as a string.
function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  }
  return value
}
