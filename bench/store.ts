/**
 * `npm run bench:store`: append throughput and latency of the event store on embedded PGlite
 * (in a temp directory, as users run it) and on a PostgreSQL server (a fresh database,
 * dropped after), with pgbench's one-row INSERT on the same server as the physical reference.
 *
 * Usage: node --import tsx bench/store.ts [--quick] [--backends pglite,postgres] [--profile] [--no-pgbench] [--no-indexes] [--wait-quiet]
 * The server is BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres). `--wait-quiet` holds
 * each case (up to 2 min) until other processes use under a quarter of a core. On PostgreSQL it
 * also measures what each index of `events` costs a write (bench/store/indexes.ts; `--no-indexes` skips it).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEventStore } from '../src/store/createEventStore.js'
import { openDriver, openStore } from '../src/store/openStore.js'
import type { EventStore } from '../src/store/types.js'
import { onInterrupt, runAllCleanups } from './lib/cleanup.js'
import { waitForQuiet } from './lib/cpu.js'
import { createFreshDatabase, databaseProcesses, redact, withConnection } from './lib/database.js'
import { CASES, caseLabel, runCase, type Timing } from './store/cases.js'
import { oneRowInsert, runPgbench, serializedBatchInsert } from './store/pgbench.js'
import { indexTable, measureIndexCosts } from './store/indexes.js'
import { profileDriver } from './store/profile.js'
import { GOAL, headline, LEGEND, pgbenchTable, resultsTable, type BackendRun } from './store/report.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const BACKENDS = ['pglite', 'postgres'] as const
type BackendName = (typeof BACKENDS)[number]

const log = (text: string) => process.stderr.write(`bench:store: ${text}\n`)

interface Options { quick: boolean; backends: BackendName[]; profile: boolean; pgbench: boolean; indexes: boolean; waitQuiet: boolean }

function parseArgs(argv: string[]): Options {
  const options: Options = { quick: false, backends: [...BACKENDS], profile: false, pgbench: true, indexes: true, waitQuiet: false }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2)
    if (flag === '--quick') options.quick = true
    else if (flag === '--profile') options.profile = true
    else if (flag === '--no-pgbench') options.pgbench = false
    else if (flag === '--no-indexes') options.indexes = false
    else if (flag === '--wait-quiet') options.waitQuiet = true
    else if (flag === '--backends') {
      const list = (inline ?? argv[++i] ?? '').split(',').filter(Boolean)
      if (list.length === 0 || list.some((b) => !BACKENDS.includes(b as BackendName))) {
        throw new Error(`--backends takes a comma-separated list of ${BACKENDS.join(', ')}; got "${list.join(',')}"`)
      }
      options.backends = list as BackendName[]
    } else {
      throw new Error(`unknown option ${argv[i]}; usage: bench/store.ts [--quick] [--backends pglite,postgres] [--profile] [--no-pgbench] [--no-indexes] [--wait-quiet]`)
    }
  }
  return options
}

const QUIET_MAX_MS = 120_000

/** With --wait-quiet, waits for the machine to calm down; says so when it did not. */
async function settle(options: Options): Promise<void> {
  if (!options.waitQuiet) return
  const { waitedMs, othersCores } = await waitForQuiet(QUIET_MAX_MS)
  if (othersCores >= 0.25) log(`the machine did not get quiet within ${QUIET_MAX_MS / 1000} s (others: ${Math.round(othersCores * 100)}% of a core); going on`)
  else if (waitedMs > 1500) log(`waited ${Math.round(waitedMs / 1000)} s for other processes to calm down`)
}

async function runCases(store: EventStore, backend: string, options: Options, timing: Timing, serverPids?: () => Promise<number[]>): Promise<BackendRun['results']> {
  const results = []
  for (const [index, spec] of CASES.entries()) {
    await settle(options)
    log(`${backend}: ${caseLabel(spec)} …`)
    const result = await runCase(store, spec, { timing, sessionPrefix: `bench-${index}`, serverPids })
    log(`${backend}: ${Math.round(result.eventsPerSec)} events/s, p50 ${result.latency.p50.toFixed(2)} ms, p99 ${result.latency.p99.toFixed(2)} ms`)
    results.push(result)
  }
  return results
}

async function runPglite(options: Options, timing: Timing): Promise<BackendRun> {
  const dir = await mkdtemp(join(os.tmpdir(), 'mnemo-bench-pglite-'))
  const removeDir = () => rm(dir, { recursive: true, force: true })
  const unregister = onInterrupt(removeDir)
  try {
    const store = await openStore({ dataDir: dir })
    try {
      return { backend: 'PGlite', where: `a fresh data directory in ${os.tmpdir()} (on disk, not memory://)`, results: await runCases(store, 'PGlite', options, timing) }
    } finally {
      await store.close()
    }
  } finally {
    unregister()
    await removeDir()
  }
}

async function runPostgres(timing: Timing, options: Options, pgbenchSeconds: number): Promise<BackendRun & { serverVersion: string }> {
  const db = await createFreshDatabase(SERVER_URL, 'bench_store')
  try {
    const [{ synchronous_commit: synchronousCommit }] = await withConnection(db.url, (sql) => sql.unsafe('SHOW synchronous_commit'))
    const [{ server_version: serverVersion }] = await withConnection(db.url, (sql) => sql.unsafe('SHOW server_version'))
    log(`PostgreSQL ${serverVersion}, database ${db.name}, synchronous_commit=${synchronousCommit}`)
    if (synchronousCommit !== 'on') log(`WARNING: synchronous_commit is ${synchronousCommit}, not on: the goal will not be judged`)
    const processes = databaseProcesses(db.url)
    let pgbench
    let ceiling
    let indexes
    let results
    try {
      // The store migrates first: the ceiling reference copies its `events` table.
      const store = await openStore({ databaseUrl: db.url })
      try {
        if (options.pgbench) {
          await settle(options)
          log(`pgbench: ${oneRowInsert().name}, ${pgbenchSeconds} s …`)
          pgbench = await runPgbench(db.url, oneRowInsert(), { seconds: pgbenchSeconds, serverPids: processes.pids })
          log(`pgbench: ${Math.round(pgbench.tps)} tps`)
          await settle(options)
          log(`pgbench: ${serializedBatchInsert().name}, ${pgbenchSeconds} s …`)
          ceiling = await runPgbench(db.url, serializedBatchInsert(), { seconds: pgbenchSeconds, serverPids: processes.pids })
          log(`pgbench: ${Math.round(ceiling.rowsPerSec)} rows/s`)
        }
        if (options.indexes) {
          await settle(options)
          const rounds = options.quick ? 1 : 5
          log(`indexes: what each index of events costs a write, ${rounds} round(s) …`)
          indexes = await measureIndexCosts(db.url, { seconds: options.quick ? 1 : 2, rounds, log })
        }
        results = await runCases(store, 'PostgreSQL', options, timing, processes.pids)
      } finally {
        await store.close()
      }
    } finally {
      await processes.close()
    }
    const run: BackendRun & { serverVersion: string } = {
      backend: 'PostgreSQL', where: `fresh database ${db.name} on ${redact(SERVER_URL).replace(/\/[^/]*$/, '')}`,
      results, pgbench, ceiling, synchronousCommit, serverVersion: String(serverVersion), indexes,
    }
    const head = results.find((r) => r.spec.headline)!
    if (options.profile || head.eventsPerSec < GOAL.eventsPerSec || head.latency.p99 >= GOAL.p99Ms) {
      log('profiling (b) with a timing driver …')
      run.profile = await profileHeadline(db.url, timing, options)
    }
    return run
  } finally {
    await db.drop()
  }
}

/** Runs the headline case again on a store whose driver times every transaction. */
async function profileHeadline(url: string, timing: Timing, options: Options): Promise<string> {
  const profiled = profileDriver(await openDriver({ databaseUrl: url }))
  const processes = databaseProcesses(url)
  // The same channel openStore uses for the public schema; the store is already migrated.
  const store = await createEventStore(profiled.driver, { channel: 'mnemo_events_public' })
  try {
    const spec = CASES.find((c) => c.headline)!
    await runCase(store, spec, { timing: { warmupMs: 0, durationMs: timing.warmupMs }, sessionPrefix: 'bench-profile' })
    await settle(options)
    profiled.reset()
    const result = await runCase(store, spec, { timing: { warmupMs: 0, durationMs: timing.durationMs }, sessionPrefix: 'bench-profile', serverPids: processes.pids })
    const perEventUs = (share: number) => ((share / result.eventsPerSec) * 1e6).toFixed(0)
    return [
      `${caseLabel(spec)}, again with a timing wrapper around the driver: ${Math.round(result.eventsPerSec).toLocaleString('en-US')} events/s, ` +
        `${profiled.transactions()} transactions, ${result.batches ? result.batches.mean.toFixed(1) : '?'} events each on average, ` +
        `append p50 ${result.latency.p50.toFixed(2)} ms. CPU per event: ${perEventUs(result.cpu.self)} µs in this process ` +
        `(writers + store + postgres.js), ${perEventUs(result.cpu.tracked)} µs in PostgreSQL; others used ${Math.round(result.cpu.others * 100)}% of a core meanwhile.`,
      '',
      profiled.report(),
    ].join('\n')
  } finally {
    await store.close()
    await processes.close()
  }
}

async function versions(): Promise<{ pglite: string; cpu: string }> {
  const pkg = JSON.parse(await readFile(join(HERE, '..', 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version: string }
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU'
  return { pglite: pkg.version, cpu }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const timing: Timing = options.quick ? { warmupMs: 300, durationMs: 1000 } : { warmupMs: 1000, durationMs: 6000 }
  const pgbenchSeconds = options.quick ? 2 : 8
  const started = new Date()
  const runs: BackendRun[] = []
  let serverVersion: string | undefined
  if (options.backends.includes('pglite')) runs.push(await runPglite(options, timing))
  if (options.backends.includes('postgres')) {
    const run = await runPostgres(timing, options, pgbenchSeconds)
    serverVersion = run.serverVersion
    runs.push(run)
  }
  const { pglite, cpu } = await versions()
  const server = runs.find((r) => r.backend === 'PostgreSQL')
  const command = `node --import tsx bench/store.ts${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`
  const markdown = [
    '# Store benchmark: last run',
    '',
    `- command: \`${command}\` (\`npm run bench:store\`)`,
    `- date: ${started.toISOString()}; ${timing.durationMs / 1000} s measured per case after ${timing.warmupMs / 1000} s of warm-up`,
    `- node ${process.version}, PGlite ${pglite}${serverVersion ? `, PostgreSQL ${serverVersion} (synchronous_commit=${server?.synchronousCommit})` : ''}`,
    `- machine: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB. **The cores are shared**: the benchmark`,
    '  process (every writer and the store; for PGlite also the database, which runs inside it) and the PostgreSQL server',
    '  run on the same cores, and pgbench too while it runs; other engineers\' processes may also run: see "others" in the CPU column' +
      (options.waitQuiet ? ' (each case waited, up to 2 min, for them to use under a quarter of a core)' : ''),
    ...runs.map((r) => `- ${r.backend}: ${r.where}`),
    '',
    headline(runs),
    '',
    resultsTable(runs),
    '',
    ...(server?.pgbench && server.ceiling ? [pgbenchTable([server.pgbench, server.ceiling]), ''] : []),
    LEGEND,
    ...(server?.indexes ? ['', '## What each index of `events` costs a write (PostgreSQL)', '', indexTable(server.indexes)] : []),
    ...(server?.profile ? ['', '## Where the time of (b) goes on PostgreSQL', '', server.profile] : []),
    '',
  ].join('\n')
  process.stdout.write(markdown)
  await writeFile(join(HERE, 'store', 'last-run.md'), markdown)
  log(`written to bench/store/last-run.md`)
}

main().catch(async (error: unknown) => {
  await runAllCleanups()
  process.stderr.write(`bench:store: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
