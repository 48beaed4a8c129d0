/**
 * Throw-away PostgreSQL databases for benchmarks: created under a random name through a
 * maintenance connection and dropped (forcibly) afterwards, also when the run is interrupted.
 */
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { onInterrupt, runAllCleanups } from './cleanup.js'

export interface FreshDatabase {
  name: string
  /** The admin URL with the path pointing at the new database. */
  url: string
  /** Drops the database, disconnecting whoever still uses it. Safe to call twice. */
  drop(): Promise<void>
}

/** One short-lived connection to `adminUrl` (any database on the server, e.g. `postgres`). */
export async function withConnection<T>(url: string, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    return await work(sql)
  } finally {
    await sql.end({ timeout: 2 })
  }
}

/**
 * Creates `<prefix>_<12 hex digits>` on the server of `adminUrl` and returns its URL.
 * `prefix` must be a plain lowercase identifier.
 */
export async function createFreshDatabase(adminUrl: string, prefix: string): Promise<FreshDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix)) throw new TypeError(`database prefix "${prefix}" must be a lowercase identifier`)
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  try {
    await withConnection(adminUrl, (sql) => sql.unsafe(`CREATE DATABASE ${name}`))
  } catch (error) {
    throw new Error(`cannot create database ${name} via ${redact(adminUrl)}: ${(error as Error).message}`)
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  let dropped: Promise<void> | undefined
  const drop = () => {
    dropped ??= withConnection(adminUrl, async (sql) => {
      await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    })
    return dropped
  }
  // Ctrl-C during a long run must not leave databases behind on the server.
  const unregister = onInterrupt(drop)
  return {
    name,
    url: url.toString(),
    async drop() {
      unregister()
      await drop()
    },
  }
}

/** Drops every database created here and not dropped yet, and runs other pending cleanups. */
export const dropAllFreshDatabases = runAllCleanups

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparsable URL)'
  }
}

/**
 * The server processes working for the database at `url`: its backends plus the server's
 * own background processes (WAL writer, checkpointer…), for CPU accounting. The server must
 * be on this machine for the pids to mean anything.
 */
export function databaseProcesses(url: string): { pids(): Promise<number[]>; close(): Promise<void> } {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  return {
    async pids() {
      const rows = await sql.unsafe<{ pid: number }[]>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR datname IS NULL')
      return rows.map((r) => r.pid)
    },
    close: () => sql.end({ timeout: 2 }),
  }
}
