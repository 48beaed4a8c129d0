/**
 * Where an update's time goes inside mnemo: its histograms' sums, counts and buckets read from
 * /metrics at the start and end of the write window, turned into means over the window, and
 * p99s estimated from the buckets (linear within the bucket the 99th percentile falls in; the
 * server's buckets are 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 25, 50, 100 ms…, so a p99 past 10 ms is
 * coarse).
 */
import type { InsideTimings } from './report.js'

export type MetricSums = Map<string, number>

const SERIES = /^(mnemo_(?:sync_update_seconds|store_batch_seconds|store_batch_events)_(?:sum|count|bucket))(\{[^}]*\})? (\S+)$/

export async function readMetricSums (url: string): Promise<MetricSums> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${url} answered ${response.status}`)
  const sums: MetricSums = new Map()
  for (const line of (await response.text()).split('\n')) {
    const match = SERIES.exec(line)
    if (match) sums.set(match[1] + (match[2] ?? ''), Number(match[3]))
  }
  return sums
}

export function insideTimings (start: MetricSums, end: MetricSums): InsideTimings {
  const delta = (name: string): number => (end.get(name) ?? 0) - (start.get(name) ?? 0)
  const mean = (base: string, labels = ''): number => delta(`${base}_sum${labels}`) / delta(`${base}_count${labels}`)
  return {
    storedMs: 1000 * mean('mnemo_sync_update_seconds', '{stage="stored"}'),
    deliveredMs: 1000 * mean('mnemo_sync_update_seconds', '{stage="delivered"}'),
    queuedMs: 1000 * mean('mnemo_store_batch_seconds', '{phase="queued"}'),
    databaseMs: 1000 * mean('mnemo_store_batch_seconds', '{phase="database"}'),
    eventsPerBatch: mean('mnemo_store_batch_events'),
    deliveredP99Ms: 1000 * p99(end, delta, 'mnemo_sync_update_seconds', 'stage="delivered"'),
    databaseP99Ms: 1000 * p99(end, delta, 'mnemo_store_batch_seconds', 'phase="database"')
  }
}

/** The 99th percentile of a histogram's observations over the window, from its buckets. */
function p99 (end: MetricSums, delta: (name: string) => number, base: string, label: string): number {
  const count = delta(`${base}_count{${label}}`)
  if (!(count > 0)) return NaN
  // The bucket bounds as the server prints them (`le` first): `{le="0.005",stage="delivered"}`.
  const prefix = `${base}_bucket{le="`
  const suffix = `",${label}}`
  const bounds = [...end.keys()]
    .filter((key) => key.startsWith(prefix) && key.endsWith(suffix))
    .map((key) => key.slice(prefix.length, -suffix.length))
    .filter((le) => le !== '+Inf')
    .sort((a, b) => Number(a) - Number(b))
  let below = 0
  let lower = 0
  for (const le of bounds) {
    const bound = Number(le)
    const cumulative = delta(`${prefix}${le}${suffix}`)
    if (cumulative >= 0.99 * count) {
      const inBucket = cumulative - below
      return inBucket > 0 ? lower + (bound - lower) * (0.99 * count - below) / inBucket : bound
    }
    below = cumulative
    lower = bound
  }
  return Infinity // past the last bucket
}
