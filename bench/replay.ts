/**
 * `npm run bench:replay`: state at any point of a long session, cold loads, and export /
 * import of a very long one, on a local PostgreSQL (fresh databases, dropped after).
 *
 * Usage: node --import tsx bench/replay.ts [--quick]
 *   default: a 100,000-update session for stateAt, 1,000,000 events for export/import
 *   --quick: 10,000 and 100,000
 * The server is BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as prng from 'lib0/prng'
import { ensureSnapshots } from '../src/replay/snapshots.js'
import { stateAt } from '../src/replay/stateAt.js'
import { openStore } from '../src/store/openStore.js'
import type { EventStore } from '../src/store/types.js'
import { waitForQuiet } from './lib/cpu.js'
import { createFreshDatabase, dropAllFreshDatabases, redact, withConnection } from './lib/database.js'
import { summarize } from './lib/stats.js'
import { cpuTable, goalsTable, rssTable, setupLines, type ReplayFigures, type TransferRun } from './replay/report.js'
import { runWorker } from './replay/spawnWorker.js'
import { writeSession } from './replay/workload.js'

const loadAtStart = os.loadavg().map((l) => l.toFixed(2)).join(' / ')
const HERE = dirname(fileURLToPath(import.meta.url))
const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const quick = process.argv.includes('--quick')
const LONG = quick ? 10_000 : 100_000
const BIG = quick ? 100_000 : 1_000_000
const SNAPSHOT_EVERY = 500
const SAMPLES = 1000
const log = (text: string) => process.stderr.write(`bench:replay: ${text}\n`)

/** What else ran: the CPU strangers used just before each measured phase (after waiting up to 60 s for quiet). */
const quietNotes: string[] = []
async function quiet(phase: string): Promise<void> {
  const { waitedMs, othersCores } = await waitForQuiet(60_000)
  quietNotes.push(`${phase}: other processes used ${othersCores.toFixed(2)} cores just before (waited ${(waitedMs / 1000).toFixed(0)} s for quiet)`)
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await work()
  return { value, ms: performance.now() - t0 }
}

async function measureStateAt(store: EventStore, positions: number[]): Promise<ReturnType<typeof summarize>> {
  const samples: number[] = []
  for (const p of positions) {
    const t0 = performance.now()
    await stateAt(store, 'long', p)
    samples.push(performance.now() - t0)
  }
  return summarize(samples)
}

async function transfer(label: string, session: string, sourceUrl: string, targetUrl: string, dir: string, events: number): Promise<TransferRun> {
  const file = join(dir, `${session}.ndjson`)
  await quiet(`${label} export/import`)
  log(`${label}: export …`)
  const exported = await runWorker(['export', sourceUrl, session, file], sourceUrl)
  const fileMb = (await stat(file)).size / (1024 * 1024)
  log(`${label}: ${Math.round(exported.count / (exported.ms / 1000))} events/s, peak RSS ${exported.peakMb.toFixed(0)} MB; import …`)
  const imported = await runWorker(['import', targetUrl, file], targetUrl)
  log(`${label}: ${Math.round(imported.count / (imported.ms / 1000))} events/s, peak RSS ${imported.peakMb.toFixed(0)} MB; verify …`)
  await rm(file, { force: true })
  const [source, target] = [await openStore({ databaseUrl: sourceUrl }), await openStore({ databaseUrl: targetUrl })]
  try {
    const verified = await timed(() => target.verify(session))
    const [a, b] = [await source.head(session), await target.head(session)]
    return { label, events, fileMb, exported, imported, verifyMs: verified.ms, sameHead: verified.value.ok && a?.hash === b?.hash && a?.version === b?.version }
  } finally {
    await source.close()
    await target.close()
  }
}

async function main(): Promise<void> {
  const started = new Date()
  const dir = await mkdtemp(join(os.tmpdir(), 'mnemo-bench-replay-'))
  const sourceDb = await createFreshDatabase(SERVER_URL, 'mnemo_bench_replay')
  const targetDb = await createFreshDatabase(SERVER_URL, 'mnemo_bench_replay_import')
  log(`databases ${sourceDb.name}, ${targetDb.name} on ${redact(SERVER_URL)}`)
  try {
    const store = await openStore({ databaseUrl: sourceDb.url })
    let figures: Omit<ReplayFigures, 'transfers'>
    try {
      figures = await measureLongSession(store, sourceDb.url)
    } finally {
      await store.close()
    }
    const transfers = [
      await transfer(`${LONG / 1000}k`, 'long', sourceDb.url, targetDb.url, dir, LONG + 1),
      await transfer(BIG >= 1_000_000 ? `${BIG / 1_000_000}M` : `${BIG / 1000}k`, 'big', sourceDb.url, targetDb.url, dir, BIG + 1),
    ]
    await report({ ...figures, transfers }, started)
  } finally {
    await rm(dir, { recursive: true, force: true })
    await dropAllFreshDatabases()
  }
}

/** Writes both sessions into the source database; measures stateAt and loads on the long one. */
async function measureLongSession(store: EventStore, url: string): Promise<Omit<ReplayFigures, 'transfers'>> {
  log(`writing ${LONG} doc.update events …`)
  const written = await timed(() => writeSession(store, 'long', LONG))
  log(`written in ${(written.ms / 1000).toFixed(1)} s; snapshots every ${SNAPSHOT_EVERY} …`)
  const snapshots = await timed(() => ensureSnapshots(store, 'long', SNAPSHOT_EVERY))
  await store.driver.query('ANALYZE')
  const head = (await store.head('long'))!
  await quiet('stateAt')
  const gen = prng.create(1)
  const random = Array.from({ length: SAMPLES }, () => prng.uint32(gen, 1, head.position))
  await measureStateAt(store, random.slice(0, 10)) // warm-up, not counted
  log(`stateAt at ${SAMPLES} random positions …`)
  const stateAtSummary = await measureStateAt(store, random)
  // The update just before a snapshot has the longest tail after the previous snapshot.
  const snapshotPositions = (await store.driver.query<{ position: string }>(
    'SELECT position FROM snapshots WHERE session_id = $1 ORDER BY position', ['long'])).map((r) => Number(r.position))
  const longestTail = await measureStateAt(store, snapshotPositions.slice(1, 51).map((p) => p - 1))
  await quiet('cold loads')
  log('cold loads …')
  const cold: number[] = []
  for (let i = 0; i < 5; i++) cold.push((await runWorker(['load', url, 'long'], url)).ms)
  const fresh: number[] = []
  for (let i = 0; i < 10; i++) {
    const other = await openStore({ databaseUrl: url, poolSize: 2 })
    await other.ping()
    fresh.push((await timed(() => stateAt(other, 'long'))).ms)
    await other.close()
  }
  const newest = await stateAt(store, 'long')
  const snapshot = await store.loadSnapshot('long')
  const stateSize = `${newest.state.explorationPath.length} path steps, ${Object.keys(newest.state.annotations).length} annotations, ` +
    `${Object.keys(newest.state.decisions).length} decisions, ${Object.keys(newest.state.selections).length} selections; ` +
    `${Math.round(JSON.stringify(newest.state).length / 1024)} KB as JSON, newest snapshot ${Math.round((snapshot?.state.byteLength ?? 0) / 1024)} KB`
  log(`writing ${BIG} events for export/import …`)
  const bigWrite = await timed(() => writeSession(store, 'big', BIG, { batch: 2000, seed: 7 }))
  await store.driver.query('ANALYZE') // what autovacuum would do after such a load (it may be off: see the report)
  return {
    longEvents: LONG, writeMs: written.ms, snapshotEvery: SNAPSHOT_EVERY,
    snapshots: { written: snapshots.value.written, ms: snapshots.ms },
    stateAt: stateAtSummary, longestTail, coldProcess: summarize(cold), newStore: summarize(fresh), bigWriteMs: bigWrite.ms, stateSize,
  }
}

async function report(f: ReplayFigures, started: Date): Promise<void> {
  const cpu = os.cpus()
  const [pgVersion, autovacuum] = await withConnection(SERVER_URL, async (sql) => [
    (await sql`SHOW server_version`)[0].server_version as string, (await sql`SHOW autovacuum`)[0].autovacuum as string])
  const text = [
    '# Replay benchmark',
    '',
    `Command: \`npm run bench:replay${quick ? ' -- --quick' : ''}\` · ${started.toISOString()} · ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB · Node ${process.version} · PostgreSQL ${pgVersion} on the same machine (local socket over TCP).`,
    '',
    'What shared the 2 cores: this process (writing the sessions, stateAt), the worker process doing each export/import ' +
      '(its own process, so its RSS is its own), the PostgreSQL server, and whatever else ran on the machine (other ' +
      'engineers\' tests share it): before each measured phase the run waits up to 60 s for the rest of the machine to use ' +
      `under 0.25 cores. Load average at the start: ${loadAtStart}.`,
    '',
    ...quietNotes.map((n) => `- ${n}`),
    '',
    goalsTable(f),
    '',
    '## RSS through export and import (MB, sampled in the worker at 25/50/75/100 % of each phase)',
    '',
    rssTable(f.transfers),
    '',
    '## CPU during export and import (shares of one core)',
    '',
    cpuTable(f.transfers),
    '',
    '## Setup',
    '',
    ...setupLines(f),
    '- stateAt = the last event at or before the position, the newest snapshot at or before it, the `doc.update` tail applied, `readState`; 10 warm-up calls not counted.',
    '- Cold load = `stateAt(store, session)` at the head on a store opened just before (nothing of the session in memory), as a server does for the first request on a session; PostgreSQL\'s buffer cache warm. The "brand-new Node process" row times the same in a process that has run no Yjs code yet (worker.ts load).',
    '- Import = check the whole file (format, chain), then insert in one transaction, 1,000 rows per INSERT, then ANALYZE; snapshots afterwards are not included.',
    `- autovacuum is ${autovacuum} on this server, so the run ANALYZEs after writing each session, as autovacuum would.`,
  ].join('\n') + '\n'
  process.stdout.write('\n' + text)
  await writeFile(join(HERE, 'replay', 'last-run.md'), text)
  log('wrote bench/replay/last-run.md')
}

try {
  await main()
} catch (error) {
  log(`failed: ${(error as Error).stack ?? error}`)
  await dropAllFreshDatabases()
  process.exitCode = 1
}
