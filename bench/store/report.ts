/**
 * The store benchmark's report: one markdown table of every case on every backend, the
 * pgbench reference, the goal verdicts, and the notes a reader needs to trust the figures.
 */
import { formatInt, formatMs, formatPercent, formatRatio, markdownTable } from '../lib/format.js'
import { caseLabel, type CaseResult } from './cases.js'
import type { IndexCost } from './indexes.js'
import type { PgbenchResult } from './pgbench.js'

export const GOAL = { eventsPerSec: 50_000, p99Ms: 10 }

/** Other processes' CPU (in cores) above which a row's figures are marked as contended. */
const CONTENDED = 0.5

export interface BackendRun {
  backend: 'PGlite' | 'PostgreSQL'
  /** Where the data lived, e.g. a temp directory or a database name. */
  where: string
  results: CaseResult[]
  /** The one-row INSERT reference of the issue. */
  pgbench?: PgbenchResult
  /** What one backend can insert into the store's schema: the ceiling of a serialized writer. */
  ceiling?: PgbenchResult
  /** Markdown: where a headline append's time goes. */
  profile?: string
  /** What each index of `events` costs a write (PostgreSQL). */
  indexes?: IndexCost[]
  synchronousCommit?: string
}

/** The goal is about (b) on the PostgreSQL server with synchronous_commit=on. */
export function verdict(run: BackendRun, result: CaseResult): string {
  if (run.backend !== 'PostgreSQL' || result.spec.id !== 'b') return '—'
  if (run.synchronousCommit !== 'on') return `not judged (synchronous_commit=${run.synchronousCommit})`
  const misses: string[] = []
  if (!(result.eventsPerSec >= GOAL.eventsPerSec)) misses.push(`${formatInt(result.eventsPerSec)} < ${formatInt(GOAL.eventsPerSec)} ev/s`)
  if (!(result.latency.p99 < GOAL.p99Ms)) misses.push(`p99 ${formatMs(result.latency.p99)} ≥ ${GOAL.p99Ms} ms`)
  if (result.failures > 0) misses.push(`${result.failures} failed appends`)
  return misses.length === 0 ? '**met**' : `**missed** (${misses.join('; ')})`
}

export function resultsTable(runs: BackendRun[]): string {
  const headers = ['backend', 'case', 'events/s', 'appends/s', 'p50 ms', 'p99 ms', 'max ms',
    'events per transaction (mean / max)', 'CPU: bench / postgres / others', '× pgbench tps', `goal (b): ≥${formatInt(GOAL.eventsPerSec)} ev/s, p99 < ${GOAL.p99Ms} ms`]
  const rows: string[][] = []
  for (const run of runs) {
    for (const result of run.results) {
      const label = caseLabel(result.spec)
      const batches = result.batches
      rows.push([
        run.backend,
        result.spec.headline ? `**${label}**` : label,
        formatInt(result.eventsPerSec),
        formatInt((result.appends / result.windowMs) * 1000),
        formatMs(result.latency.p50),
        formatMs(result.latency.p99),
        formatMs(result.latency.max),
        batches ? `${batches.mean.toFixed(1)} / ${formatInt(batches.max)}` : '—',
        [result.cpu.self, result.cpu.tracked, result.cpu.others].map(formatPercent).join(' / ') + (result.cpu.others > CONTENDED ? ' ⚠' : ''),
        run.pgbench ? formatRatio(result.eventsPerSec / run.pgbench.tps) : '—',
        verdict(run, result) + (result.failures > 0 ? ` (${result.failures} failures: ${result.firstFailure})` : ''),
      ])
    }
  }
  return markdownTable(headers, rows)
}

export function pgbenchTable(results: PgbenchResult[]): string {
  return markdownTable(
    ['reference (same server, same run)', 'command', 'tps', 'rows/s', 'latency avg ms', 'failed', 'CPU: pgbench / postgres / others'],
    results.map((result) => [
      result.workload.name,
      `\`${result.command}\``,
      formatInt(result.tps),
      formatInt(result.rowsPerSec),
      formatMs(result.latencyAvgMs),
      String(result.failed),
      [result.cpu.pgbench, result.cpu.tracked, result.cpu.others].map(formatPercent).join(' / '),
    ]),
  )
}

/** The sentence the issue asks for: the headline figure, its ratio to pgbench and the verdict. */
export function headline(runs: BackendRun[]): string {
  const server = runs.find((r) => r.backend === 'PostgreSQL')
  const result = server?.results.find((r) => r.spec.headline)
  if (!server || !result) return 'Headline: PostgreSQL was not run.'
  const ratio = server.pgbench
    ? ` = ${formatRatio(result.eventsPerSec / server.pgbench.tps)} pgbench's ${formatInt(server.pgbench.tps)} one-row INSERT tps`
    : ''
  const ceiling = server.ceiling
    ? ` (and ${formatPercent(result.eventsPerSec / server.ceiling.rowsPerSec)} of the ${formatInt(server.ceiling.rowsPerSec)} rows/s one backend inserts into the store's schema in ${server.ceiling.workload.rowsPerTransaction}-row transactions)`
    : ''
  return `Headline, (b) on PostgreSQL: **${formatInt(result.eventsPerSec)} events/s**${ratio}${ceiling}, ` +
    `p50 ${formatMs(result.latency.p50)} ms, p99 ${formatMs(result.latency.p99)} ms; ` +
    `goal ≥${formatInt(GOAL.eventsPerSec)} events/s with p99 < ${GOAL.p99Ms} ms: ${verdict(server, result)}.`
}

export const LEGEND = [
  'events/s counts events whose append resolved inside the measuring window (after a warm-up), divided by the window;',
  'latency is from calling `store.append` until its promise resolved, for every append in the window, so it includes',
  'waiting in the group-commit queue. Each writer is an async loop that awaits every append before the next, on its',
  'own session. "Events per transaction" is read back from the log (rows written by one transaction share their',
  '`xmin`), so it shows what group commit achieved. CPU is in shares of one core over the window: "bench" is this',
  'Node process (the writers, the store and, for PGlite, the database itself), "postgres" the server processes of',
  'the benchmark\'s database plus the server\'s background processes (WAL writer, checkpointer…), "others" the rest',
  'of the machine: load this benchmark did not cause but had to share the two cores with; ⚠ marks rows where it',
  'exceeded half a core, whose figures are lower than the machine would give this benchmark alone.',
].join('\n')
