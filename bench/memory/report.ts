/** Percentiles and the results table of `npm run bench:memory` (console and Markdown). */

/** Nearest-rank percentile of samples sorted ascending; NaN when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((q / 100) * sorted.length))) - 1]
}

export interface Latency {
  count: number
  p50: number
  p99: number
  max: number
}

export function latency(samples: readonly number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b)
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN }
}

export interface Row {
  measure: string
  result: string
  goal: string
  /** measured ÷ goal for throughput, goal ÷ measured for latency: ≥ 1 means the goal is met. */
  ratio?: number
}

export const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) + ' ms'
export const int = (x: number) => Math.round(x).toLocaleString('en-US')

function ratioCell(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '—'
  return `${ratio.toFixed(2)}× ${ratio >= 1 ? '✓' : '✗'}`
}

export function markdownTable(rows: Row[]): string {
  const lines = ['| measure | result | goal | ratio to goal |', '|---|---|---|---|']
  for (const r of rows) lines.push(`| ${r.measure} | ${r.result} | ${r.goal} | ${ratioCell(r.ratio)} |`)
  return lines.join('\n')
}

export function consoleTable(rows: Row[]): string {
  const cells = rows.map((r) => [r.measure, r.result, r.goal, ratioCell(r.ratio)])
  const header = ['measure', 'result', 'goal', 'ratio']
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n')
}
