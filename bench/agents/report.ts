/** The agents benchmark's report: one table for the terminal and bench/agents/last-run.md. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LoadResult } from './load.js'

export interface Sampled {
  /** Over the operation window. */
  serverCpuPercent: number
  loadCpuPercent: number
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

export function rows(result: LoadResult, sampled: Sampled, info: RunInfo): Array<[string, string]> {
  const target = info.config.agents * info.config.rate
  const issued = result.issued.doc + result.issued.http
  const p99 = percentile(result.visibilityMs, 99)
  return [
    ['agents (SDK) / human clients (stock provider) / sessions', `${result.agents} / ${result.humans} / ${info.config.sessions}`],
    ['joining all agents took (s)', result.joinSeconds.toFixed(1)],
    ['operations issued (per s; target)', `${int(issued)} (${int(issued / result.windowSeconds)}/s; ${int(target)}/s)`],
    ['  document edits / HTTP events', `${int(result.issued.doc)} / ${int(result.issued.http)}`],
    ['operations completed in the window (per s)', `${int(result.completedInWindow)} (${int(result.completedInWindow / result.windowSeconds)}/s)`],
    ['edits seen by the human / never seen', `${int(result.seen)} / ${int(result.unseen)}`],
    ['HTTP events answered / failed', `${int(result.answered)} / ${int(result.failed)}`],
    ['edit → human sees it: p50 / p95 / p99 / max (ms)',
      `${ms(percentile(result.visibilityMs, 50))} / ${ms(percentile(result.visibilityMs, 95))} / ${ms(p99)} / ${ms(Math.max(...result.visibilityMs))}`],
    ['p99 goal < 50 ms', Number.isFinite(p99) ? (p99 < 50 ? 'met' : 'NOT met') : '—'],
    ['HTTP event answered: p50 / p99 (ms)', `${ms(percentile(result.httpMs, 50))} / ${ms(percentile(result.httpMs, 99))}`],
    ['server RSS: start / peak / end (MiB)', `${int(sampled.serverRssStartMiB)} / ${int(sampled.serverRssPeakMiB)} / ${int(sampled.serverRssEndMiB)}`],
    ['CPU, % of one core: server / PostgreSQL / agents process / others',
      `${pct(sampled.serverCpuPercent)} / ${pct(sampled.postgresCpuPercent)} / ${pct(sampled.loadCpuPercent)} / ${pct(sampled.othersCpuPercent)}`],
    ['agents process event-loop delay p99 (ms)', ms(result.loopDelayP99Ms)],
  ]
}

export function printTable(lines: Array<[string, string]>): string {
  const width = Math.max(...lines.map(([k]) => k.length))
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
}

export function writeLastRun(dir: string, result: LoadResult, sampled: Sampled, info: RunInfo): string {
  const table = rows(result, sampled, info)
  const text = `# Agents benchmark: last run

- command: \`${info.command}\`
- date: ${info.date}
- ${info.machine}
- workload: ${info.config.agents} agents (the SDK, \`joinSession\`, open mode) in one child process, spread evenly over
  ${info.config.sessions} sessions, each doing ${info.config.rate} operations/s for ${info.config.seconds} s: 70 % document edits
  (select 30 %, explore 25 %, annotate 15 %) and 30 % memory events over HTTP (memory.formed 15 % with importance
  0.2–0.8, so about half trigger an automatic cascade; memory.connected 10 %; conversation.turn 5 %), from a seeded generator
- the human: one stock y-websocket \`WebsocketProvider\` per session in the same process; "seen" is when its document
  observer fires for the agent's edit, timed against the moment the agent made it (one process, one clock)
- server: \`node --import tsx src/cli/index.ts serve\` in its own process on a fresh PostgreSQL database (local server),
  created for the run and dropped after it
- what shared the 2 cores: the server, PostgreSQL (the backends serving this run's database), the agents process
  (all agents and humans) and the orchestrator (sampling /proc every 250 ms); "others" is the rest of the machine's
  busy time in the window: other jobs, and PostgreSQL's shared background processes
${result.errors.length ? `- first errors: ${result.errors.map((e) => `\`${e.slice(0, 160)}\``).join('; ')}\n` : ''}
| | |
|---|---:|
${table.map(([k, v]) => `| ${k.trim()} | ${v} |`).join('\n')}
`
  const path = join(dir, 'last-run.md')
  writeFileSync(path, text)
  return path
}
