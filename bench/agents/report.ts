/** The agents benchmark's report: one table for the terminal and bench/agents/last-run.md. */
import type { ScopeResult } from './scope.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BlameResult } from './blame.js'
import type { RevertResult } from './revert.js'
import type { HumansResult } from './humans.js'
import type { LoadResult } from './load.js'

export interface Sampled {
  /** Over the operation window. */
  serverCpuPercent: number
  loadCpuPercent: number
  humansCpuPercent: number
  postgresCpuPercent: number
  othersCpuPercent: number
  serverRssStartMiB: number
  serverRssPeakMiB: number
  serverRssEndMiB: number
}

export interface RunInfo {
  command: string
  date: string
  machine: string
  config: { agents: number; sessions: number; rate: number; seconds: number }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '—')
const int = (n: number) => Math.round(n).toLocaleString('en-US')
const pct = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '—')

export function rows(agents: LoadResult, humans: HumansResult, sampled: Sampled, info: RunInfo): Array<[string, string]> {
  const target = info.config.agents * info.config.rate
  const issued = agents.issued.doc + agents.issued.http
  const seen = humans.visibilityMs
  const completed = humans.seenAt.filter((t) => t <= agents.windowEnd).length + agents.answeredAt.filter((t) => t <= agents.windowEnd).length
  const p99 = percentile(seen, 99)
  const w = agents.windowSeconds
  return [
    ['agents (SDK) / humans (stock provider) / sessions', `${agents.agents} / ${info.config.sessions} / ${info.config.sessions}`],
    ['joining all agents took (s)', agents.joinSeconds.toFixed(1)],
    ['operations issued (per s; target)', `${int(issued)} (${int(issued / w)}/s; ${int(target)}/s)`],
    ['  document edits / HTTP events', `${int(agents.issued.doc)} / ${int(agents.issued.http)}`],
    ['operations completed in the window (per s)', `${int(completed)} (${int(completed / w)}/s)`],
    ['edits seen by the humans / never seen', `${int(seen.length)} / ${int(agents.issued.doc - seen.length)}`],
    ['HTTP events answered / failed', `${int(agents.answered)} / ${int(agents.failed)}`],
    ['edit → a human sees it: p50 / p95 / p99 / max (ms)',
      `${ms(percentile(seen, 50))} / ${ms(percentile(seen, 95))} / ${ms(p99)} / ${ms(percentile(seen, 100))}`],
    ['p99 goal < 50 ms', Number.isFinite(p99) ? (p99 < 50 ? 'met' : 'NOT met') : '—'],
    ['HTTP event answered: p50 / p99 (ms)', `${ms(percentile(agents.httpMs, 50))} / ${ms(percentile(agents.httpMs, 99))}`],
    ['server RSS: start / peak / end (MiB)', `${int(sampled.serverRssStartMiB)} / ${int(sampled.serverRssPeakMiB)} / ${int(sampled.serverRssEndMiB)}`],
    ['CPU, % of one core: server / PostgreSQL / agents / humans / others',
      [sampled.serverCpuPercent, sampled.postgresCpuPercent, sampled.loadCpuPercent, sampled.humansCpuPercent, sampled.othersCpuPercent].map(pct).join(' / ')],
    ['agents process event-loop delay p99 (ms)', ms(agents.loopDelayP99Ms)],
  ]
}

/** The blame measurement's rows. */
export function blameRows(blame: BlameResult): Array<[string, string]> {
  return [
    [`blame of a ${int(blame.entries)}-entry document (ms): p50 / max`, `${ms(blame.ms.p50)} / ${ms(blame.ms.max)}`],
    ['  its session: doc.update events / filled in (s)', `${int(blame.updates)} / ${blame.fillSeconds.toFixed(1)}`],
  ]
}

export function scopeRows(scope: ScopeResult): Array<[string, string]> {
  return [
    [`a scoped token's check per Yjs update (µs), ${int(scope.updates)} agent updates on a 1,000-entry document`, scope.checkUs.toFixed(1)],
    ['  the update\'s own path: decode, summarize, apply (µs): unchecked / checked', `${scope.uncheckedUs.toFixed(1)} / ${scope.checkedUs.toFixed(1)}`],
  ]
}

export function revertRows(revert: RevertResult): Array<[string, string]> {
  return [
    [`revert of a ${int(revert.runUpdates)}-update run in a ${int(revert.updates)}-update session (ms): p50 / p99`, `${ms(revert.ms.p50)} / ${ms(revert.ms.p99)}`],
    ['  its dry run (ms): p50 / p99', `${ms(revert.dryMs.p50)} / ${ms(revert.dryMs.p99)}`],
    ['  the session filled in (s)', revert.fillSeconds.toFixed(1)],
  ]
}

export function printTable(lines: Array<[string, string]>): string {
  const width = Math.max(...lines.map(([k]) => k.length))
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
}

export function writeLastRun(
  dir: string, agents: LoadResult, humans: HumansResult, sampled: Sampled, info: RunInfo, blame?: BlameResult, revert?: RevertResult, scope?: ScopeResult,
): string {
  const table = [...rows(agents, humans, sampled, info), ...(blame ? blameRows(blame) : []), ...(revert ? revertRows(revert) : []), ...(scope ? scopeRows(scope) : [])]
  const text = `# Agents benchmark: last run

- command: \`${info.command}\`
- date: ${info.date}
- ${info.machine}
- workload: ${info.config.agents} agents (the SDK, \`joinSession\`, open mode) in one child process, spread evenly over
  ${info.config.sessions} sessions, each doing ${info.config.rate} operations/s for ${info.config.seconds} s: 70 % document edits
  (select 30 %, explore 25 %, annotate 15 %) and 30 % memory events over HTTP (memory.formed 15 % with importance
  0.2–0.8, so about half trigger an automatic cascade; memory.connected 10 %; conversation.turn 5 %), from a seeded generator
- the humans: one stock y-websocket \`WebsocketProvider\` per session, in a process of their own (as a browser would be);
  "seen" is when a human's document observer fires for an agent's edit, timed against the moment the agent made it
  (written into the edit; both processes read CLOCK_MONOTONIC, which the machine's processes share)
- server: \`node --import tsx src/cli/index.ts serve\` in its own process on a fresh PostgreSQL database (local server),
  created for the run and dropped after it
- what shared the 2 cores: the server, PostgreSQL (the backends serving this run's database), the agents process,
  the humans process and the orchestrator (sampling /proc every 250 ms); "others" is the rest of the machine's
  busy time in the window: other jobs, and PostgreSQL's shared background processes
- blame: after the load, on the same server, a session of ${blame ? int(blame.entries) : '10,000'} entries filled with \`POST …/doc\`
  (10 operations a write), then \`GET …/blame\` ${blame ? blame.ms.count : 7} times
${agents.errors.length ? `- first errors: ${agents.errors.map((e) => `\`${e.slice(0, 160)}\``).join('; ')}\n` : ''}
| | |
|---|---:|
${table.map(([k, v]) => `| ${k.trim()} | ${v} |`).join('\n')}
`
  const path = join(dir, 'last-run.md')
  writeFileSync(path, text)
  return path
}
