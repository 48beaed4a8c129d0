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
 * @param source a directory, `memory://` for a throwaway database, or an open PGlite
 * (tests clone a migrated template: far cheaper than starting PGlite anew)
 */
export async function openPgliteDriver(source: string | PGlite = 'memory://'): Promise<SqlDriver> {
  const pg = typeof source === 'string' ? await PGlite.create(source) : source
  const executor = (target: Pick<PGlite, 'query'>): SqlExecutor => ({
    async query<T>(text: string, params?: unknown[]) {
      const result = await target.query<T>(text, params, BYTEA)
      return result.rows
    },
  })
  const root = executor(pg)
  let closed = false

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
      return async () => {
        if (!closed) await unlisten()
      }
    },
    async close() {
      if (closed) return
      closed = true
      await pg.close()
    },
  }
}
