/**
 * Physical references for the store benchmark, run with pgbench against the same server:
 * a one-row INSERT of a jsonb document the size of a `memory.formed`'s data at 32 clients (what
 * PostgreSQL does for single-row transactions), and the ceiling of one serialized writer: one
 * client inserting 100 events-shaped rows per transaction into a copy of the store's `events`
 * table (same columns, indexes and constraints).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pidTicks, startCpuSampler, type CpuUsage } from '../lib/cpu.js'
import { withConnection } from '../lib/database.js'
import { runCommand } from '../lib/spawn.js'
import { sampleMemoryJson } from './events.js'

export const PGBENCH = process.env.PGBENCH ?? '/usr/bin/pgbench'

export interface PgbenchWorkload {
  name: string
  /** Run once before pgbench (tables it needs). */
  setupSql: string
  script: string
  /** Rows each transaction inserts. */
  rowsPerTransaction: number
  clients: number
  threads: number
  /** Extra pgbench flags, e.g. `-M prepared`. */
  flags: string[]
}

export interface PgbenchResult {
  workload: PgbenchWorkload
  /** The command line as run (the script and database shortened to their names). */
  command: string
  tps: number
  rowsPerSec: number
  latencyAvgMs: number
  transactions: number
  failed: number
  /** pgbench's own CPU is shown apart from the rest of the machine. */
  cpu: CpuUsage & { pgbench: number }
}

// pgbench substitutes `:name` in scripts; a space after every JSON colon keeps it from trying.
const memoryJson = () => sampleMemoryJson().replace(/":/g, '": ').replace(/'/g, "''")

/** The reference of the issue: one-row INSERTs of a ~200-byte jsonb, 32 clients. */
export function oneRowInsert(): PgbenchWorkload {
  return {
    name: 'one-row INSERT, jsonb ~200 B',
    setupSql: 'CREATE TABLE IF NOT EXISTS pgbench_events (id bigserial PRIMARY KEY, data jsonb NOT NULL)',
    script: `INSERT INTO pgbench_events (data) VALUES ('${memoryJson()}');\n`,
    rowsPerTransaction: 1,
    clients: 32,
    threads: 2,
    flags: [],
  }
}

/** What an events-shaped row of a pgbench script holds (SQL literals; pgbench substitutes `:name`, so JSON has a space after each colon). */
export interface EventRowLiterals {
  type: string
  data: string
  payload: string
  actor: string
  meta: string
  sessions: number
}

/**
 * One INSERT … SELECT of `rows` events-shaped rows into `table`, positions (and versions) from
 * `sequence`, `sessions` sessions round robin, hashes made up: the statement of the pgbench
 * references that insert into copies of `events`.
 */
export function eventRowsInsert(table: string, sequence: string, rows: number, row: EventRowLiterals): string {
  return `INSERT INTO ${table} (position, id, session_id, version, type, data, payload, actor, meta, recorded_at, hash, prev_hash)
  SELECT p, gen_random_uuid(), 'session-' || (p % ${row.sessions}), p, '${row.type}', ${row.data}, ${row.payload},
         ${row.actor},
         ${row.meta}, now(), md5(p::text) || md5(p::text), md5((p - 1)::text) || md5((p - 1)::text)
  FROM (SELECT nextval('${sequence}') AS p FROM generate_series(1, ${rows})) AS batch;
`.replace(/\n(?!$)/g, ' ')
}

/**
 * What one backend can insert into the store's schema when nothing else costs anything:
 * the ceiling for appends, which all go through one lock and so through one backend at a time.
 */
export function serializedBatchInsert(rows = 100): PgbenchWorkload {
  return {
    name: `${rows}-row INSERT … SELECT into a copy of \`events\` (same indexes), 1 client`,
    setupSql: `CREATE TABLE IF NOT EXISTS pgbench_log (LIKE events INCLUDING ALL);
               CREATE SEQUENCE IF NOT EXISTS pgbench_log_position`,
    script: eventRowsInsert('pgbench_log', 'pgbench_log_position', rows, {
      type: 'memory.formed', data: `'${memoryJson()}'::jsonb`, payload: 'NULL', sessions: 64,
      actor: `'{"id": "agent-researcher", "name": "Researcher", "kind": "agent", "model": "claude-sonnet-4"}'::jsonb`,
      meta: `'{"causationId": null, "correlationId": null}'::jsonb`,
    }),
    rowsPerTransaction: rows,
    clients: 1,
    threads: 1,
    flags: ['-M', 'prepared'],
  }
}

export interface PgbenchOptions {
  seconds?: number
  /** The server's processes serving this database, for CPU accounting. */
  serverPids?: () => Promise<number[]>
}

/** Prepares the workload's tables in the database at `url` and runs pgbench against it. */
export async function runPgbench(url: string, workload: PgbenchWorkload, { seconds = 8, serverPids }: PgbenchOptions = {}): Promise<PgbenchResult> {
  await withConnection(url, (sql) => sql.unsafe(workload.setupSql))
  const dir = await mkdtemp(join(tmpdir(), 'mnemo-pgbench-'))
  try {
    const script = join(dir, 'script.sql')
    await writeFile(script, workload.script)
    const args = [...workload.flags, '-f', script, '-c', String(workload.clients), '-j', String(workload.threads), '-T', String(seconds), '-n', url]
    let pid: number | undefined
    let lastTicks = 0
    const pgbenchSampler = setInterval(() => {
      if (pid !== undefined) lastTicks = pidTicks(pid) ?? lastTicks
    }, 100)
    const sampler = startCpuSampler({ trackedPids: serverPids })
    const result = await runCommand(PGBENCH, args, {
      timeoutMs: (seconds + 60) * 1000,
      onStart: (started) => { pid = started },
    })
    const usage = await sampler.stop()
    clearInterval(pgbenchSampler)
    if (result.code !== 0) {
      throw new Error(`pgbench exited with ${result.code ?? result.signal}: ${result.stderr.trim() || result.stdout.trim()}`)
    }
    // pgbench's ticks as last seen before it exited: it counts from 0, having started in the window.
    const pgbenchShare = (lastTicks * 10) / usage.windowMs
    const parsed = parsePgbenchOutput(result.stdout)
    return {
      workload,
      command: `pgbench ${args.slice(0, -1).map((a) => (a === script ? 'script.sql' : a)).join(' ')} ${new URL(url).pathname.slice(1)}`,
      ...parsed,
      rowsPerSec: parsed.tps * workload.rowsPerTransaction,
      cpu: { ...usage, pgbench: pgbenchShare, others: Math.max(0, usage.others - pgbenchShare) },
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Reads tps, mean latency and counts from pgbench's summary (PostgreSQL 13–17 wording). */
export function parsePgbenchOutput(stdout: string): Pick<PgbenchResult, 'tps' | 'latencyAvgMs' | 'transactions' | 'failed'> {
  const number = (pattern: RegExp) => {
    const match = pattern.exec(stdout)
    return match ? Number(match[1]) : Number.NaN
  }
  const tps = number(/^tps = ([\d.]+) \(without initial connection time\)/m)
  if (!Number.isFinite(tps)) throw new Error(`cannot find "tps = …" in pgbench's output:\n${stdout}`)
  return {
    tps,
    latencyAvgMs: number(/^latency average = ([\d.]+) ms/m),
    transactions: number(/^number of transactions actually processed: (\d+)/m),
    failed: number(/^number of failed transactions: (\d+)/m) || 0,
  }
}
