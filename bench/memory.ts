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
import type { Mix } from './memory/data.js'
import { measureHookCost } from './memory/hookCost.js'
import { combineAppends, measureAppends, measureCascades, measureSearch, type AppendRun, type AppendSample } from './memory/scenarios.js'

const quick = process.argv.includes('--quick')
const appendSeconds = quick ? 4 : 6
const appendRounds = quick ? 1 : 3

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

  // The three mixes take turns, so that whatever else loads the machine weighs on all of them alike.
  const samples: Record<Mix, AppendSample[]> = { turns: [], plain: [], cascading: [] }
  for (let round = 0; round < appendRounds; round++) {
    for (const mix of ['turns', 'plain', 'cascading'] as const) {
      say(`appends, round ${round + 1}/${appendRounds}: ${mix}, 32 clients, one event per request, ${appendSeconds} s`)
      samples[mix].push(await measureAppends(server, db, mix, appendSeconds, round))
    }
  }
  const [turns, plain, cascading] = [combineAppends(samples.turns), combineAppends(samples.plain), combineAppends(samples.cascading)]
  say('projection hook: store.append in this process, with and without the hook')
  const hook = await measureHookCost(quick ? 1 : 2)
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
    {
      measure: 'projection hook, store.append in-process (32 writers, memory mix): events/s without → with',
      result: `${int(hook.without.eventsPerSecond)}/s → ${int(hook.with.eventsPerSecond)}/s (${(hook.with.eventsPerSecond / hook.without.eventsPerSecond).toFixed(2)}×), p99 ${ms(hook.without.latency.p99)} → ${ms(hook.with.latency.p99)}`,
      goal: '—',
    },
    {
      measure: 'memory mix vs. baseline, same background load: events/s ratio without / with cascades',
      result: `${(plain.eventsPerSecond / turns.eventsPerSecond).toFixed(2)} / ${(cascading.eventsPerSecond / turns.eventsPerSecond).toFixed(2)}`,
      goal: '—',
    },
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
    `- appends of conversation turns (mean over its runs): ${cores(turns.cores)}`,
    `- appends without cascades: ${cores(plain.cores)}`,
    `- appends with cascades: ${cores(cascading.cores)}`,
    '- "postgres" counts every PostgreSQL process on the machine, other users\' databases included; "others" is the rest of the machine\'s busy time.',
    '',
    '## Notes',
    '',
    `- Appends: 32 HTTP/1.1 keep-alive clients over 8 sessions (4 per session), each sending one event per request and waiting for the answer; each mix measured ${appendRounds} × ${appendSeconds} s (after 2 s of warm-up each time), the three mixes taking turns. Memory mix: 40 % memory.formed, 30 % memory.connected, 15 % memory.strength_changed (the server adds \`previous\`), 15 % conversation.turn; the baseline sends conversation turns only, which no memory code touches. Errors: ${turns.errors}, ${plain.errors} and ${cascading.errors} of ${int(turns.requests)}, ${int(plain.requests)} and ${int(cascading.requests)} requests.`,
    '- Projection hook: 32 async writers in the benchmark process calling `store.append` directly (no HTTP, no `previous`, no cascades) with the memory mix, on a database of their own, with and without the hook in turns: what folding into the projection inside the append transaction costs the store.',
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
