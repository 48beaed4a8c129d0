/**
 * The store benchmark's cases and their runner: N writer loops in this process, each
 * appending to its own session and awaiting every append before the next, measured over a
 * window after a warm-up. Batch sizes achieved by group commit are read back from the log
 * itself: rows inserted by one transaction share their `xmin`.
 */
import type { EventStore } from '../../src/store/types.js'
import { startCpuSampler, type CpuSampler, type CpuUsage } from '../lib/cpu.js'
import { createSamples, summarize, type Summary } from '../lib/stats.js'
import { EVENT_FACTORIES, type EventKind } from './events.js'

export interface CaseSpec {
  /** (a) one event per append, one writer; (b) one event, many writers; (c) batches. */
  id: 'a' | 'b' | 'c'
  writers: number
  eventsPerAppend: number
  kind: EventKind
  /** The row the goal is about. */
  headline: boolean
}

export const CASES: CaseSpec[] = [
  { id: 'a', writers: 1, eventsPerAppend: 1, kind: 'memory.formed', headline: false },
  { id: 'b', writers: 64, eventsPerAppend: 1, kind: 'memory.formed', headline: true },
  { id: 'b', writers: 64, eventsPerAppend: 1, kind: 'doc.update', headline: false },
  { id: 'c', writers: 1, eventsPerAppend: 100, kind: 'memory.formed', headline: false },
  { id: 'c', writers: 8, eventsPerAppend: 100, kind: 'memory.formed', headline: false },
]

export function caseLabel(spec: CaseSpec): string {
  const shape = spec.eventsPerAppend === 1 ? '1 event/append' : `${spec.eventsPerAppend} events/append`
  return `(${spec.id}) ${shape}, ${spec.writers} writer${spec.writers === 1 ? '' : 's'}, ${spec.kind}`
}

export interface Timing {
  warmupMs: number
  durationMs: number
}

export interface RunContext {
  timing: Timing
  /** Sessions are named `<sessionPrefix>-w<writer>`. */
  sessionPrefix: string
  /** The database server's processes serving this store, for CPU accounting (absent for PGlite). */
  serverPids?: () => Promise<number[]>
}

export interface TransactionStats {
  transactions: number
  /** Events per transaction over the window. */
  mean: number
  p50: number
  max: number
}

export interface CaseResult {
  spec: CaseSpec
  events: number
  appends: number
  windowMs: number
  eventsPerSec: number
  /** Append latency in ms: from calling `append` until its promise resolved. */
  latency: Summary
  failures: number
  firstFailure?: string
  cpu: CpuUsage
  batches?: TransactionStats
}

/** Runs one case on `store`. */
export async function runCase(store: EventStore, spec: CaseSpec, { timing, sessionPrefix, serverPids }: RunContext): Promise<CaseResult> {
  const make = EVENT_FACTORIES[spec.kind]
  const latencies = createSamples()
  let windowStart = Number.POSITIVE_INFINITY
  let windowEnd = Number.POSITIVE_INFINITY
  let stopped = false
  let events = 0
  let failures = 0
  let firstFailure: string | undefined
  let minPosition = Number.POSITIVE_INFINITY
  let maxPosition = 0
  let counter = 0

  // The window is driven by the clock that writers read after every append, not by timers:
  // PGlite resolves queries without returning to the event loop, so a timer might never fire.
  const startedAt = performance.now()
  let sampler: CpuSampler | undefined
  let cpu: Promise<CpuUsage> | undefined
  function tick(now: number): void {
    if (sampler === undefined && now >= startedAt + timing.warmupMs) {
      sampler = startCpuSampler({ trackedPids: serverPids })
      windowStart = performance.now()
    } else if (sampler !== undefined && cpu === undefined && now >= windowStart + timing.durationMs) {
      cpu = sampler.stop()
      windowEnd = performance.now()
      stopped = true
    }
  }

  async function writer(index: number): Promise<void> {
    const session = `${sessionPrefix}-w${index}`
    while (!stopped) {
      const batch = Array.from({ length: spec.eventsPerAppend }, () => make(counter++))
      const started = performance.now()
      let outcome: string | undefined
      let positions: [number, number] | undefined
      try {
        const result = await store.append(session, batch)
        if (result.ok) positions = [result.events[0].position, result.events[result.events.length - 1].position]
        else outcome = result.reason
      } catch (error) {
        outcome = error instanceof Error ? error.message : String(error)
      }
      const finished = performance.now()
      tick(finished)
      if (outcome !== undefined) {
        failures += 1
        firstFailure ??= outcome
      } else if (started >= windowStart && finished <= windowEnd) {
        latencies.push(finished - started)
        events += spec.eventsPerAppend
        minPosition = Math.min(minPosition, positions![0])
        maxPosition = Math.max(maxPosition, positions![1])
      }
    }
  }

  await Promise.all(Array.from({ length: spec.writers }, (_, i) => writer(i)))

  const windowMs = windowEnd - windowStart
  return {
    spec,
    events,
    appends: latencies.length,
    windowMs,
    eventsPerSec: (events / windowMs) * 1000,
    latency: summarize(latencies.values()),
    failures,
    firstFailure,
    cpu: await cpu!,
    batches: maxPosition > 0 ? await transactionStats(store, minPosition, maxPosition) : undefined,
  }
}

/**
 * How many transactions wrote positions `from..to`, and how many events each carried.
 * Group commit shows here: with many writers, far fewer transactions than appends.
 */
export async function transactionStats(store: EventStore, from: number, to: number): Promise<TransactionStats> {
  const [row] = await store.driver.query<{ transactions: string | number; mean: string | number; p50: string | number; max: string | number }>(
    `SELECT count(*) AS transactions, avg(n) AS mean,
            percentile_disc(0.5) WITHIN GROUP (ORDER BY n) AS p50, max(n) AS max
       FROM (SELECT count(*) AS n FROM events WHERE position BETWEEN $1 AND $2 GROUP BY xmin::text) AS per_transaction`,
    [from, to],
  )
  return { transactions: Number(row.transactions), mean: Number(row.mean), p50: Number(row.p50), max: Number(row.max) }
}
