/** The replay benchmark's tables: figures against their goals, and RSS through export and import. */
import { formatInt, formatMs, formatPercent, markdownTable } from '../lib/format.js'
import type { Summary } from '../lib/stats.js'
import type { WorkerRun } from './spawnWorker.js'

export interface TransferRun {
  label: string
  events: number
  fileMb: number
  exported: WorkerRun
  imported: WorkerRun
  verifyMs: number
  sameHead: boolean
}

export interface ReplayFigures {
  longEvents: number
  writeMs: number
  snapshotEvery: number
  snapshots: { written: number; ms: number }
  stateAt: Summary
  longestTail: Summary
  coldProcess: Summary
  newStore: Summary
  transfers: TransferRun[]
  bigWriteMs: number
  /** What the long session's newest state holds, and its snapshot's size. */
  stateSize: string
}

const GOAL_STATE_P99_MS = 100
const GOAL_COLD_MS = 50
/** RSS counts as flat when it ends a phase at most this much above where it stood at 25 %. */
const FLAT_GROWTH = 0.25

const ok = (met: boolean) => (met ? 'yes' : '**no**')
const perSecond = (events: number, ms: number) => `${formatInt(events / (ms / 1000))} events/s`

export function rssGrowth(run: WorkerRun, phase: string): number {
  const samples = run.rss.samples.filter((s) => s.phase === phase)
  if (samples.length < 2) return Number.NaN
  return samples.at(-1)!.mb / samples[0].mb - 1
}

export function goalsTable(f: ReplayFigures): string {
  const rows: string[][] = [
    [`stateAt, ${formatInt(f.stateAt.count)} random positions of ${formatInt(f.longEvents)} (p50 / p99 / max)`,
      `${formatMs(f.stateAt.p50)} / **${formatMs(f.stateAt.p99)}** / ${formatMs(f.stateAt.max)} ms`, `p99 < ${GOAL_STATE_P99_MS} ms`,
      ok(f.stateAt.p99 < GOAL_STATE_P99_MS)],
    [`stateAt with the longest tail (${f.snapshotEvery - 1} updates after the snapshot; p50 / max)`,
      `${formatMs(f.longestTail.p50)} / ${formatMs(f.longestTail.max)} ms`, '—', ''],
    [`cold load of the newest state: first load in a running server (new store; ${f.newStore.count} runs; median / max)`,
      `**${formatMs(f.newStore.p50)}** / ${formatMs(f.newStore.max)} ms`, `< ${GOAL_COLD_MS} ms`, ok(f.newStore.p50 < GOAL_COLD_MS)],
    [`the same in a brand-new Node process, JIT cold (${f.coldProcess.count} runs; median / max)`,
      `${formatMs(f.coldProcess.p50)} / ${formatMs(f.coldProcess.max)} ms`, '—', ''],
  ]
  for (const t of f.transfers) {
    const exportFlat = rssGrowth(t.exported, 'export') <= FLAT_GROWTH
    const importFlat = ['check', 'write'].every((p) => rssGrowth(t.imported, p) <= FLAT_GROWTH)
    rows.push(
      [`export ${t.label} (${t.fileMb.toFixed(0)} MB of JSON Lines)`, perSecond(t.events, t.exported.ms), '—', ''],
      [`import ${t.label} (check + write in one transaction)`, perSecond(t.events, t.imported.ms), '—', ''],
      [`peak RSS ${t.label}: export / import`, `${t.exported.peakMb.toFixed(0)} / ${t.imported.peakMb.toFixed(0)} MB`,
        `flat (≤ +${formatPercent(FLAT_GROWTH)} from 25 % to 100 %)`, ok(exportFlat && importFlat)],
      [`import ${t.label}: same head hash as the source, verify ok`, `${t.sameHead ? 'yes' : 'NO'}; verify ${perSecond(t.events, t.verifyMs)}`, 'identical', ok(t.sameHead)],
    )
  }
  return markdownTable(['measure', 'result', 'goal', 'met'], rows, ['left', 'right', 'left', 'left'])
}

export function rssTable(transfers: TransferRun[]): string {
  const rows: string[][] = []
  for (const t of transfers) {
    for (const [run, phases] of [[t.exported, ['export']], [t.imported, ['check', 'write']]] as const) {
      for (const phase of phases) {
        const at = (q: number) => run.rss.samples.find((s) => s.phase === phase && s.at === q)?.mb.toFixed(0) ?? '—'
        rows.push([`${t.label} ${phase}`, run.rss.start.toFixed(0), at(0.25), at(0.5), at(0.75), at(1), run.peakMb.toFixed(0),
          formatMs(run.phases[phase] / 1000) + ' s'])
      }
    }
  }
  return markdownTable(['run / phase', 'start MB', '25 %', '50 %', '75 %', '100 %', 'peak MB', 'time'], rows)
}

export function cpuTable(transfers: TransferRun[]): string {
  const rows = transfers.flatMap((t) => [
    [`${t.label} export`, formatPercent(t.exported.cpu.worker), formatPercent(t.exported.cpu.postgres), formatPercent(t.exported.cpu.others)],
    [`${t.label} import`, formatPercent(t.imported.cpu.worker), formatPercent(t.imported.cpu.postgres), formatPercent(t.imported.cpu.others)],
  ])
  return markdownTable(['run', 'worker (mnemo code)', 'PostgreSQL', 'everything else'], rows)
}

export function setupLines(f: ReplayFigures): string[] {
  return [
    `- Long session: ${formatInt(f.longEvents)} \`doc.update\` events written in ${formatMs(f.writeMs / 1000)} s (${perSecond(f.longEvents, f.writeMs)}, batches of 1,000).`,
    `- Its newest state: ${f.stateSize}.`,
    `- Snapshots every ${f.snapshotEvery} updates by \`ensureSnapshots\`: ${formatInt(f.snapshots.written)} written in ${formatMs(f.snapshots.ms / 1000)} s.`,
    `- Big session: ${formatInt(f.transfers.at(-1)?.events ?? 0)} events written in ${formatMs(f.bigWriteMs / 1000)} s.`,
  ]
}
