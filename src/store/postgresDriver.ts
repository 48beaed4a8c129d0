/**
 * The server driver: postgres.js against a real PostgreSQL. An optional `schema` puts every
 * table in that schema (tests give each file its own).
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
  const sql = postgres(url, {
    max,
    onnotice: () => {},
    connection: schema ? { search_path: schema } : {},
    // A dead server must not hang callers forever; the app retries with backoff.
    connect_timeout: 10,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
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
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>) {
      return sql.begin((tx) => fn(executor(tx))) as Promise<T>
    },
    async listen(channel, onNotify) {
      const { unlisten } = await sql.listen(channel, onNotify)
      return unlisten
    },
    async close() {
      await sql.end({ timeout: 5 })
    },
  }
}

// JSON goes as text with an explicit ::text::jsonb cast in the SQL, so neither driver
// re-encodes it. postgres.js encodes Buffers as bytea; a bare Uint8Array would be sent as a string.
function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  }
  return value
}
