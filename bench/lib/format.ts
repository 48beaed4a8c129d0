/**
 * Number formatting and markdown tables for benchmark reports, so that every benchmark
 * prints figures the same way.
 */

/** 12345.6 → "12,346". */
export function formatInt(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—'
}

/** Milliseconds with precision that suits their size: 0.042, 1.25, 12.3, 456. */
export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return '—'
  if (value < 0.1) return value.toFixed(3)
  if (value < 10) return value.toFixed(2)
  if (value < 100) return value.toFixed(1)
  return value.toFixed(0)
}

/** A share such as 0.734 → "73%". */
export function formatPercent(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)}%` : '—'
}

/** A ratio such as 3.14159 → "3.14×". */
export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)}×` : '—'
}

export type Align = 'left' | 'right'

/**
 * A GitHub-flavoured markdown table. `align` defaults to left for the first column and
 * right for the rest (labels, then figures).
 */
export function markdownTable(headers: string[], rows: string[][], align?: Align[]): string {
  const aligns = headers.map((_, i) => align?.[i] ?? (i === 0 ? 'left' : 'right'))
  const escape = (cell: string) => cell.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  const line = (cells: string[]) => `| ${cells.map(escape).join(' | ')} |`
  const rule = `|${aligns.map((a) => (a === 'right' ? '---:' : ':---')).join('|')}|`
  return [line(headers), rule, ...rows.map((row) => line(headers.map((_, i) => row[i] ?? '')))].join('\n')
}
