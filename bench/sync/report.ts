/**
 * Turns the sync benchmark's measurements into side-by-side markdown tables, one per
 * scenario, each figure followed by its ratio to the best peer (reference, hocuspocus).
 */
import os from 'node:os'
import { isMnemo, WARM_UP_MS, type LoadResult, type ScenarioSpec, type ServerName } from './scenarios.js'
import { perSecond } from './stats.js'

/** What the orchestrator measured from outside, around one load-generator run. */
export interface ServerMeasures {
  serverCpuPct: number
  loadgenCpuPct: number
  /** All `postgres` processes' CPU, % of one core; NaN when the server uses none. */
  postgresCpuPct: number
  /** Everything else the machine ran meanwhile, % of one core. */
  othersCpuPct: number
  /** CPU seconds the server spent while the clients connected and synced. */
  connectCpuS: number
  rssBeforeKiB: number
  rssPeakKiB: number
  rssEndKiB: number
  /** mnemo only, from its /metrics over the write window: means in ms (events: per batch). */
  inside?: InsideTimings
}

export interface InsideTimings {
  storedMs: number
  deliveredMs: number
  queuedMs: number
  databaseMs: number
  eventsPerBatch: number
  /** Estimated from the histogram's buckets (insideTimings.ts). */
  deliveredP99Ms: number
  databaseP99Ms: number
}

export type Outcome =
  | { server: ServerName, status: 'ok', load: LoadResult, measures: ServerMeasures, notes: string[] }
  | { server: ServerName, status: 'unavailable' | 'failed', reason: string }

type Better = 'lower' | 'higher' | null

interface Row {
  label: string
  better: Better
  value: (load: LoadResult, m: ServerMeasures) => number
  format: (value: number, load: LoadResult, m: ServerMeasures) => string
}

const fixed = (digits: number) => (value: number): string => Number.isFinite(value) ? value.toFixed(digits) : '—'
const integer = (value: number): string => Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—'
const mib = (kib: number): number => kib / 1024

const connectionRows: Row[] = [
  { label: 'clients synced', better: null, value: l => l.synced, format: (v, l) => `${v}/${l.clients}` },
  { label: 'connection errors / closes', better: null, value: l => l.connectionErrors + l.connectionCloses, format: (_v, l) => `${l.connectionErrors} / ${l.connectionCloses}` }
]

const warmUp = `${WARM_UP_MS / 1000} s`

const trafficRows: Row[] = [
  { label: 'updates sent (per s)', better: null, value: l => l.sent, format: (v, l) => `${integer(v)} (${integer(perSecond(l.sent, l.sendWindowMs))}/s)` },
  { label: 'deliveries/s', better: 'higher', value: l => perSecond(l.deliveredInWindow, l.sendWindowMs), format: integer },
  { label: 'latency p50 (ms)', better: 'lower', value: l => l.latency.p50, format: fixed(2) },
  { label: 'latency p99 (ms)', better: 'lower', value: l => l.latency.p99, format: fixed(2) },
  { label: 'latency max (ms)', better: null, value: l => l.latency.max, format: fixed(1) },
  { label: `latency p50, updates sent after the first ${warmUp} (ms)`, better: 'lower', value: l => l.steadyLatency?.p50 ?? NaN, format: fixed(2) },
  { label: `latency p99, updates sent after the first ${warmUp} (ms)`, better: 'lower', value: l => l.steadyLatency?.p99 ?? NaN, format: fixed(2) },
  { label: 'lost updates (of expected deliveries)', better: null, value: l => l.lost, format: (v, l) => `${integer(v)} of ${integer(l.expectedDeliveries)}` },
  { label: 'server CPU (% of one core)', better: 'lower', value: (_l, m) => m.serverCpuPct, format: fixed(1) },
  { label: 'server CPU ms per 1,000 deliveries', better: 'lower', value: (l, m) => m.serverCpuPct * 10 * (l.sendWindowMs / 1000) / (l.deliveredInWindow / 1000), format: fixed(1) },
  { label: 'PostgreSQL CPU (% of one core)', better: null, value: (_l, m) => m.postgresCpuPct, format: fixed(1) },
  { label: 'inside mnemo, mean: update arrived → stored (ms)', better: null, value: (_l, m) => m.inside?.storedMs ?? NaN, format: fixed(2) },
  { label: 'inside mnemo, mean: update arrived → broadcast (ms)', better: null, value: (_l, m) => m.inside?.deliveredMs ?? NaN, format: fixed(2) },
  { label: 'inside mnemo, mean: batch waited to be sent (ms)', better: null, value: (_l, m) => m.inside?.queuedMs ?? NaN, format: fixed(2) },
  { label: 'inside mnemo, mean: batch database round trip (ms)', better: null, value: (_l, m) => m.inside?.databaseMs ?? NaN, format: fixed(2) },
  { label: 'inside mnemo, mean: events per batch', better: null, value: (_l, m) => m.inside?.eventsPerBatch ?? NaN, format: fixed(1) },
  { label: 'inside mnemo, p99 from buckets: update arrived → broadcast (ms)', better: null, value: (_l, m) => m.inside?.deliveredP99Ms ?? NaN, format: fixed(1) },
  { label: 'inside mnemo, p99 from buckets: batch database round trip (ms)', better: null, value: (_l, m) => m.inside?.databaseP99Ms ?? NaN, format: fixed(1) },
  { label: 'server RSS peak (MiB)', better: 'lower', value: (_l, m) => mib(m.rssPeakKiB), format: fixed(1) },
  { label: 'load generator CPU (% of one core)', better: null, value: (_l, m) => m.loadgenCpuPct, format: fixed(1) },
  { label: 'load generator event-loop delay p99 (ms)', better: null, value: l => l.loopDelayP99Ms, format: fixed(1) },
  { label: 'other processes\' CPU (% of one core)', better: null, value: (_l, m) => m.othersCpuPct, format: fixed(1) }
]

const idleRows: Row[] = [
  { label: 'connect + sync time (s)', better: 'lower', value: l => l.connectMs / 1000, format: fixed(2) },
  { label: 'one connection, connect → synced p50 (ms)', better: 'lower', value: l => l.connectToSynced?.p50 ?? NaN, format: fixed(1) },
  { label: 'one connection, connect → synced p99 (ms)', better: 'lower', value: l => l.connectToSynced?.p99 ?? NaN, format: fixed(1) },
  { label: 'server CPU while connecting (s)', better: 'lower', value: (_l, m) => m.connectCpuS, format: fixed(2) },
  { label: 'server RSS before → settled (MiB)', better: null, value: (_l, m) => mib(m.rssEndKiB), format: (_v, _l, m) => `${fixed(1)(mib(m.rssBeforeKiB))} → ${fixed(1)(mib(m.rssEndKiB))}` },
  { label: 'server RSS per connection (KiB)', better: 'lower', value: (l, m) => (m.rssEndKiB - m.rssBeforeKiB) / l.synced, format: fixed(1) },
  { label: 'server CPU while idle (% of one core)', better: 'lower', value: (_l, m) => m.serverCpuPct, format: fixed(2) },
  { label: 'PostgreSQL CPU while idle (% of one core)', better: null, value: (_l, m) => m.postgresCpuPct, format: fixed(2) },
  { label: 'load generator CPU while idle (% of one core)', better: null, value: (_l, m) => m.loadgenCpuPct, format: fixed(1) },
  { label: 'other processes\' CPU (% of one core)', better: null, value: (_l, m) => m.othersCpuPct, format: fixed(1) }
]

function ratio (value: number, best: number | undefined, better: Better): string {
  if (better === null || best === undefined || !Number.isFinite(value) || !(best > 0)) return ''
  return ` (×${(value / best).toFixed(2)})`
}

/**
 * The best value among the peers that ran, by the row's own sense of better; for mnemo over
 * the Hocuspocus protocol, Hocuspocus' own (the comparison its users make).
 */
function bestPeer (row: Row, outcomes: Outcome[], column: ServerName): number | undefined {
  const values: number[] = []
  for (const outcome of outcomes) {
    if (outcome.status !== 'ok' || isMnemo(outcome.server)) continue
    if (column === 'mnemo-hocuspocus' && outcome.server !== 'hocuspocus') continue
    const value = row.value(outcome.load, outcome.measures)
    if (Number.isFinite(value)) values.push(value)
  }
  if (values.length === 0) return undefined
  return row.better === 'higher' ? Math.max(...values) : Math.min(...values)
}

/** One scenario as a markdown table: rows are measures, columns servers; then its notes. */
export function scenarioTable (spec: ScenarioSpec, outcomes: Outcome[]): string {
  const rows = [...connectionRows, ...(spec.kind === 'idle' ? idleRows : trafficRows)]
  const lines = [
    `### ${spec.id}: ${spec.title} (${spec.kind === 'idle' ? 'settle' : 'write'} ${spec.durationMs / 1000} s)`,
    '',
    `| | ${outcomes.map(o => o.server).join(' | ')} |`,
    `|---|${outcomes.map(() => '---:').join('|')}|`
  ]
  for (const row of rows) {
    const cells = outcomes.map((outcome) => {
      if (outcome.status !== 'ok') return outcome.status === 'unavailable' ? 'not available' : 'failed'
      const value = row.value(outcome.load, outcome.measures)
      return row.format(value, outcome.load, outcome.measures) + ratio(value, bestPeer(row, outcomes, outcome.server), row.better)
    })
    lines.push(`| ${row.label} | ${cells.join(' | ')} |`)
  }
  const notes: string[] = []
  for (const outcome of outcomes) {
    if (outcome.status === 'ok') for (const note of outcome.notes) notes.push(`${outcome.server}: ${note}`)
    else if (outcome.status === 'unavailable') notes.push(`${outcome.server}: not available (${outcome.reason})`)
    else notes.push(`${outcome.server}: run failed (${outcome.reason})`)
  }
  if (notes.length > 0) lines.push('', ...notes.map(note => `- ${note}`))
  return lines.join('\n')
}

const LEGEND = [
  'Ratios (×) are to the best peer (reference, hocuspocus) on that row — in the mnemo-hocuspocus',
  'column (mnemo through /hocuspocus, driven with Hocuspocus\' framing) to hocuspocus: for latency, CPU and',
  'memory lower is better, for deliveries/s higher is better. Latency = receive time − send',
  'time, both taken in the load generator (one process, one clock), for every receiving client',
  'of every update; deliveries/s counts those received during the write window. The rows "after',
  `the first ${warmUp}" leave out the updates sent in the window's first ${warmUp}, every server's warm-up`,
  '(its JIT, each session\'s first writes); the goals are judged on the whole window. A lost update',
  'is a (update, receiving client) pair whose key the client\'s document still lacks after the',
  'drain period. CPU and RSS come from /proc/<pid>/stat and /proc/<pid>/status of the server',
  'process, CPU averaged over the write window (S4: the settle window). PostgreSQL CPU is that of',
  'the backends connected to mnemo\'s database (pg_stat_activity; WAL writer and checkpointer',
  'not included), shown because mnemo writes each update there before broadcasting it; the',
  'peers keep documents in memory only. "Other',
  'processes\'" is the rest of the machine\'s busy time (/proc/stat) in that window: load this',
  'benchmark did not cause but had to share the cores with. The load generator\'s event-loop',
  'delay is how late its timers ran (p99); when it is high, latencies include generator stalls.'
].join('\n')

/** The report's opening: how it was run, on what, and what shared the machine. */
export function reportHeader (argv: string[], servers: ServerName[], othersAtStart: number): string {
  const cores = os.availableParallelism()
  const sharers = ['the server under test', 'the load generator (every client, one process)']
  if (servers.some(isMnemo)) sharers.push('PostgreSQL (mnemo runs only)')
  return [
    '# Sync benchmark: last run',
    '',
    `- command: \`node --import tsx bench/sync/index.ts${argv.length > 0 ? ' ' + argv.join(' ') : ''}\``,
    `- date: ${new Date().toISOString()}`,
    `- node ${process.version} on ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- the ${cores} cores were shared by ${sharers.join(', ')}; the orchestrator only sampled /proc;`,
    `  other processes used ${othersAtStart.toFixed(0)}% of a core just before the start (per run: the "other processes" row)`,
    '- clients: stock `y-websocket` WebsocketProvider (ws, disableBc) with one Y.Doc each; for hocuspocus and mnemo-hocuspocus,',
    '  through a framing shim (bench/sync/hocuspocusSocket.ts), since Hocuspocus 3 prefixes every frame',
    '  with the document name and wants an auth frame first; the shim runs in the load generator',
    '- every server runs fresh for every scenario, in its own process; peers keep no persistence;',
    `  mnemo runs on a fresh PostgreSQL database with MNEMO_RATE_UPDATES_PER_SEC=${process.env.MNEMO_RATE_UPDATES_PER_SEC ?? '0 (no limit)'}`,
    '',
    LEGEND
  ].join('\n')
}
