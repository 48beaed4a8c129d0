/**
 * `npm run bench:memory`: memory events appended over HTTP by 32 concurrent clients, a
 * cascade on a 10,000-memory / 50,000-connection graph, and search over 100,000 memories,
 * against `mnemo serve` on a fresh local PostgreSQL database. Prints a table with the goals
 * and writes it to bench/memory/last-run.md. `--quick` shortens the append runs.
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { openPostgresDriver } from '../src/store/postgresDriver.js'
import { coresBetween, createDatabase, killChildren, readCpu, REPO_ROOT, startServer } from './memory/processes.js'
import { consoleTable, int, markdownTable, ms, type Row } from './memory/report.js'
import { measureAppends, measureCascades, measureSearch, type AppendRun } from './memory/scenarios.js'

const quick = process.argv.includes('--quick')
const appendSeconds = quick ? 5 : 15

process.on('exit', killChildren)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killChildren()
    process.exit(130)
  })
}

const say = (line: string) => process.stdout.write(`bench:memory: ${line}\n`)
const started = new Date()

// What else runs on the machine: the 2 cores are shared with whatever is busy now.
const idleStart = readCpu([])
await new Promise((r) => setTimeout(r, 3000))
const idle = coresBetween(idleStart, readCpu([]), { [process.pid]: 'orchestrator' })

const database = await createDatabase()
say(`database ${database.name}`)
const db = openPostgresDriver({ url: database.url, max: 2 })
let server: Awaited<ReturnType<typeof startServer>> | undefined
try {
  server = await startServer(database.url)
  const [pgVersion] = await db.query<{ server_version: string }>('SHOW server_version')

  say(`appends: 32 clients, one event per request, ${appendSeconds} s, conversation turns only (baseline)`)
  const turns = await measureAppends(server, db, 'turns', appendSeconds)
  say(`appends: memory events, no automatic cascades`)
  const plain = await measureAppends(server, db, 'plain', appendSeconds)
  say(`appends: memory events with automatic cascades (importances uniform in 0..1)`)
  const cascading = await measureAppends(server, db, 'cascading', appendSeconds)
  say('cascade: seeding a 10,000-memory / 50,000-connection graph over HTTP')
  const cascade = await measureCascades(server, db)
  say('search: seeding 100,000 memories over HTTP')
  const search = await measureSearch(server, db)

  const appendRows = (label: string, run: AppendRun): Row[] => [
    { measure: `appends ${label}: events/s (32 clients)`, result: `${int(run.eventsPerSecond)}/s${run.cascadesPerSecond ? ` (+ ${int(run.cascadesPerSecond)} cascades/s)` : ''}`, goal: '≥ 5,000/s', ratio: run.eventsPerSecond / 5000 },
    { measure: `appends ${label}: latency p50 / p99`, result: `${ms(run.latency.p50)} / ${ms(run.latency.p99)}`, goal: 'p99 < 25 ms', ratio: 25 / run.latency.p99 },
  ]
  const rows: Row[] = [
    ...appendRows('of conversation turns only (baseline)', turns),
    ...appendRows('without cascades', plain),
    ...appendRows('with automatic cascades', cascading),
    { measure: `runCascade, 10k / 50k graph, strength 1: p50 / p99 (median ${cascade.reachedMedian} reached)`, result: `${ms(cascade.engine.p50)} / ${ms(cascade.engine.p99)}`, goal: '< 10 ms', ratio: 10 / cascade.engine.p99 },
    { measure: 'POST …/cascades end to end (warm cache): p50 / p99', result: `${ms(cascade.endToEnd.p50)} / ${ms(cascade.endToEnd.p99)}`, goal: '< 10 ms', ratio: 10 / cascade.endToEnd.p99 },
    { measure: 'POST …/cascades, first call (loads the graph into the cache)', result: ms(cascade.coldMs), goal: '—' },
    { measure: `search over ${int(search.memories)} memories, end to end incl. recording: p50 / p99`, result: `${ms(search.overall.p50)} / ${ms(search.overall.p99)}`, goal: 'p99 < 20 ms', ratio: 20 / search.overall.p99 },
    ...search.byClass.map((c) => ({
      measure: `  search, ${c.name} (median ${int(c.medianMatches)} matches): p50 / p99`,
      result: `${ms(c.latency.p50)} / ${ms(c.latency.p99)}`,
      goal: c.name === 'frequent word' ? '— (not in the goal row)' : 'p99 < 20 ms',
      ratio: c.name === 'frequent word' ? undefined : 20 / c.latency.p99,
    })),
  ]
  const cores = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')
  const command = `npm run bench:memory${quick ? ' -- --quick' : ''}`
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, PostgreSQL ${pgVersion.server_version} (local, fsync on)`
  const markdown = [
    '# Memory benchmark',
    '',
    `Command: \`${command}\` — ${started.toISOString()}`,
    '',
    `Machine: ${machine}. Server: \`node --import tsx src/cli/index.ts serve\` (one process) on a fresh database \`${database.name}\` (dropped after); load generator in its own process.`,
    '',
    markdownTable(rows),
    '',
    'Ratio to goal: measured ÷ goal for throughput, goal ÷ measured for latency; ≥ 1 meets the goal.',
    '',
    '## What shared the 2 cores (in cores, 1 = one whole core)',
    '',
    `- before the run, idle mnemo: ${cores(idle)}`,
    `- appends of conversation turns: ${cores(turns.cores)}`,
    `- appends without cascades: ${cores(plain.cores)}`,
    `- appends with cascades: ${cores(cascading.cores)}`,
    '',
    '## Notes',
    '',
    `- Appends: 32 HTTP/1.1 keep-alive clients over 8 sessions (4 per session), each sending one event per request and waiting for the answer; ${appendSeconds} s measured after 3 s of warm-up. Memory mix: 40 % memory.formed, 30 % memory.connected, 15 % memory.strength_changed (the server adds \`previous\`), 15 % conversation.turn; the baseline sends conversation turns only, which no memory code touches. Errors: ${turns.errors}, ${plain.errors} and ${cascading.errors} of ${int(turns.requests)}, ${int(plain.requests)} and ${int(cascading.requests)} requests.`,
    '- With automatic cascades, about half the memory events start one; the request answers after the cascade is recorded (a second append), so its latency includes it.',
    `- Cascade graph: ${int(cascade.memories)} memories, ${int(cascade.connections)} distinct random connections (strengths uniform in 0.05..1), decay 0.5, min 0.05, depth 4, from 200 random sources with strength 1. End to end = HTTP request → graph cache check (one indexed query) → runCascade → append → read back the event.`,
    '- Search: memories of 8–16 words drawn from a 20,000-word vocabulary by a Zipf law (s = 1); `VACUUM ANALYZE memories` after loading, as autovacuum would. Every search also appends its `memory.retrieved` event. "Frequent word" queries (ranks 5–30) match a large share of all memories, and ts_rank_cd ranks every match, so they are shown apart from the goal row.',
  ].join('\n') + '\n'
  writeFileSync(join(REPO_ROOT, 'bench/memory/last-run.md'), markdown)
  process.stdout.write(`\n${consoleTable(rows)}\n\nwrote bench/memory/last-run.md\n`)
} finally {
  await server?.stop()
  await db.close()
  await database.drop()
}
