/**
 * Where an update's time goes inside mnemo: its histograms' sums and counts read from
 * /metrics at the start and end of the write window, turned into means over the window.
 */
import type { InsideTimings } from './report.js'

export type MetricSums = Map<string, number>

const SERIES = /^(mnemo_(?:sync_update_seconds|store_batch_seconds|store_batch_events)_(?:sum|count))(\{[^}]*\})? (\S+)$/

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
    eventsPerBatch: mean('mnemo_store_batch_events')
  }
}
