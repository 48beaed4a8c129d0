/**
 * Throw-away PostgreSQL databases for mnemo's benchmark runs, created and dropped through
 * the maintenance database (`BENCH_PG_ADMIN_URL`, default the local `postgres` database).
 */
import postgres from 'postgres'

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const live = new Set<string>()

async function withAdmin<T> (work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    return await work(sql)
  } finally {
    await sql.end({ timeout: 2 })
  }
}

/** Creates database `name` (a safe identifier chosen by us) and returns its URL. */
export async function createDatabase (name: string): Promise<string> {
  try {
    await withAdmin(async sql => await sql.unsafe(`CREATE DATABASE "${name}"`))
  } catch (error) {
    throw new Error(`cannot create database ${name} via ${ADMIN_URL}: ${(error as Error).message}`)
  }
  live.add(name)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** Drops `name`, disconnecting whoever still uses it; never throws. */
export async function dropDatabase (name: string): Promise<void> {
  try {
    await withAdmin(async sql => await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
    live.delete(name)
  } catch (error) {
    process.stderr.write(`bench:sync: could not drop database ${name}: ${(error as Error).message}\n`)
  }
}

let monitor: postgres.Sql | undefined

/** The pids of the backends connected to `name` now (pg_stat_activity). */
export async function backendPids (name: string): Promise<number[]> {
  monitor ??= postgres(ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  const rows = await monitor<Array<{ pid: number }>>`select pid from pg_stat_activity where datname = ${name}`
  return rows.map(row => row.pid)
}

/** Ends every connection to `name` (its clients open fresh backends); returns how many. */
export async function terminateBackends (name: string): Promise<number> {
  return await withAdmin(async sql => {
    const rows = await sql<Array<{ ended: number }>>`select count(pg_terminate_backend(pid))::int as ended from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`
    return rows[0]?.ended ?? 0
  })
}

/** Drops every database this process created and has not dropped yet. */
export async function dropAllDatabases (): Promise<void> {
  await Promise.all([...live].map(dropDatabase))
  await monitor?.end({ timeout: 2 })
  monitor = undefined
}
