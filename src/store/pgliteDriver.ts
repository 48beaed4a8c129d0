/**
 * The embedded driver: PGlite (PostgreSQL compiled to WebAssembly) in a data directory,
 * or in memory for tests. One in-process connection; PGlite serializes queries itself.
 */
import { PGlite, types } from '@electric-sql/pglite'
import type { SqlDriver, SqlExecutor } from './types.js'

/**
 * bytea through Node's native hex codec. PGlite's own converts byte by byte in JavaScript:
 * measured 250 ms per MB each way, so the snapshot of a 16 MB document blocked the process
 * for 4 s to write and as long to read (hostile defect 10); with these, 16 MB take a tenth of it.
 */
const BYTEA = {
  parsers: { [types.BYTEA]: (text: string) => new Uint8Array(Buffer.from(text.slice(2), 'hex')) },
  serializers: {
    [types.BYTEA]: (value: Uint8Array) => '\\x' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex'),
  },
}

/**
 * @param source a directory, `memory://` for a throwaway database, or an open PGlite. An open
 * PGlite stays its caller's: closing the driver ends the driver's listeners, not the database
 * (tests lend one PGlite to a store per schema: a schema costs a tenth of a new PGlite).
 * @param schema the schema to live in (it must exist); absent, PGlite's default.
 */
export async function openPgliteDriver(source: string | PGlite = 'memory://', schema?: string): Promise<SqlDriver> {
  const owned = typeof source === 'string'
  const pg = owned ? await PGlite.create(source) : source
  // New WAL segments are not zero-filled first: PGlite creates them on the server's thread, and
  // filling 16 MB held it ~55 ms at every segment (bench/hardening/large-document.ts). Safe: WAL
  // records carry their own checksums; zero-filling only reserves the space up front.
  if (owned) await pg.exec('SET wal_init_zero = off')
  if (schema) await pg.query(`SET search_path TO "${schema.replace(/"/g, '""')}"`)
  const executor = (target: Pick<PGlite, 'query'>): SqlExecutor => ({
    async query<T>(text: string, params?: unknown[]) {
      const result = await target.query<T>(text, params, BYTEA)
      return result.rows
    },
  })
  const root = executor(pg)
  let closed = false
  const listeners = new Set<() => Promise<void>>()

  return {
    kind: 'pglite',
    query: root.query,
    // PGlite runs one query at a time, in the order they were made.
    queryInOrder: root.query,
    async exec(text) {
      await pg.exec(text)
    },
    transaction(fn) {
      return pg.transaction((tx) => fn(executor(tx)))
    },
    async listen(channel, onNotify) {
      const unlisten = await pg.listen(channel, onNotify)
      const stop = async () => {
        if (!listeners.delete(stop) || closed) return
        await unlisten()
      }
      listeners.add(stop)
      return stop
    },
    async close() {
      if (closed) return
      if (owned) {
        closed = true
        await pg.close()
        return
      }
      await Promise.all([...listeners].map((stop) => stop()))
      closed = true
    },
  }
}
