/**
 * Where an append's time goes: a driver wrapper that times every transaction (BEGIN,
 * the statements, JavaScript work between them, COMMIT) and every pipelined autocommit
 * batch (`queryInOrder`: sent → answered, how far apart answers come, how much of the time
 * the database had one) without touching the store's code, and a report of the averages.
 */
import type { SqlDriver, SqlExecutor } from '../../src/store/types.js'
import { formatMs, markdownTable } from '../lib/format.js'

interface TransactionTiming {
  /** From `transaction()` until the callback ran (BEGIN, and waiting for a connection). */
  begin: number
  /** The callback: statements and the JavaScript between them. */
  body: number
  /** Time in the body during which at least one statement was in flight. */
  statements: number
  /** From the callback's end until `transaction()` resolved (COMMIT, incl. the WAL flush). */
  commit: number
  byStatement: Map<string, number>
}

export interface DriverProfile {
  driver: SqlDriver
  /** Clears what was recorded so far (e.g. after a warm-up). */
  reset(): void
  transactions(): number
  /** A markdown table of mean ms per transaction, by phase and by statement. */
  report(): string
}

/** Statement labels by their opening words; anything else is shown by its first words. */
function label(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  if (flat.startsWith('SELECT position FROM log_head')) return 'lock log_head (SELECT … FOR UPDATE)'
  if (flat.startsWith('SELECT id, version, hash')) return 'read session heads'
  if (flat.startsWith('SELECT id::text AS id, session_id')) return 'look up event ids (idempotency)'
  if (flat.startsWith('INSERT INTO events')) return 'INSERT INTO events'
  if (flat.startsWith('WITH heads AS')) return 'upsert sessions + log_head + pg_notify'
  if (flat.startsWith('WITH rows AS')) return 'write events + sessions + log_head + pg_notify (one statement)'
  return flat.slice(0, 40)
}

interface PipelineTiming {
  calls: number
  /** Sum of sent → answered. */
  roundTrips: number
  /** Sum of the batches in flight (this one included) when each was sent. */
  depth: number
  /** Time with at least one batch in flight, and since when. */
  busy: number
  busySince: number
  inFlight: number
  firstSent: number
  lastAnswered: number
}

const emptyPipeline = (): PipelineTiming => ({
  calls: 0, roundTrips: 0, depth: 0, busy: 0, busySince: 0, inFlight: 0, firstSent: 0, lastAnswered: 0,
})

export function profileDriver(inner: SqlDriver): DriverProfile {
  let timings: TransactionTiming[] = []
  let pipeline = emptyPipeline()
  const now = () => performance.now()

  async function queryInOrder<R>(text: string, params?: unknown[]): Promise<R[]> {
    const p = pipeline
    const sent = now()
    if (p.calls === 0) p.firstSent = sent
    p.calls += 1
    if (p.inFlight++ === 0) p.busySince = sent
    p.depth += p.inFlight
    try {
      return await inner.queryInOrder<R>(text, params)
    } finally {
      const answered = now()
      p.roundTrips += answered - sent
      p.lastAnswered = answered
      if (--p.inFlight === 0) p.busy += answered - p.busySince
    }
  }

  function transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const called = now()
    const timing: TransactionTiming = { begin: 0, body: 0, statements: 0, commit: 0, byStatement: new Map() }
    let bodyEnd = 0
    return inner.transaction(async (tx) => {
      const bodyStart = now()
      timing.begin = bodyStart - called
      let inFlight = 0
      let busySince = 0
      const timed: SqlExecutor = {
        async query<R>(text: string, params?: unknown[]): Promise<R[]> {
          const started = now()
          if (inFlight++ === 0) busySince = started
          try {
            return await tx.query<R>(text, params)
          } finally {
            const ended = now()
            if (--inFlight === 0) timing.statements += ended - busySince
            const key = label(text)
            timing.byStatement.set(key, (timing.byStatement.get(key) ?? 0) + (ended - started))
          }
        },
      }
      try {
        return await fn(timed)
      } finally {
        bodyEnd = now()
        timing.body = bodyEnd - bodyStart
      }
    }).finally(() => {
      timing.commit = now() - bodyEnd
      timings.push(timing)
    })
  }

  return {
    driver: { ...inner, kind: inner.kind, query: inner.query, exec: inner.exec, listen: inner.listen, close: inner.close, transaction, queryInOrder },
    reset() {
      timings = []
      pipeline = emptyPipeline()
    },
    transactions: () => timings.length + pipeline.calls,
    report() {
      const sections: string[] = []
      const p = pipeline
      if (p.calls > 0) {
        const span = p.lastAnswered - p.firstSent
        sections.push(markdownTable(['pipelined batches (one autocommit statement each)', 'value'], [
          ['batches', String(p.calls)],
          ['sent → answered, mean (incl. waiting behind the batch ahead)', `${formatMs(p.roundTrips / p.calls)} ms`],
          ['answers apart, mean (time per batch)', `${formatMs(span / p.calls)} ms`],
          ['batches in flight when one was sent, mean', (p.depth / p.calls).toFixed(2)],
          ['time with a batch in flight', `${Math.round((p.busy / (span || 1)) * 100)}%`],
        ]))
      }
      if (timings.length > 0) sections.push(transactionReport())
      return sections.join('\n\n')
    },
  }

  function transactionReport(): string {
    const n = timings.length || 1
    const mean = (pick: (t: TransactionTiming) => number) => timings.reduce((sum, t) => sum + pick(t), 0) / n
    const total = mean((t) => t.begin + t.body + t.commit)
    const rows: string[][] = [
      ['BEGIN (and waiting for a pooled connection)', formatMs(mean((t) => t.begin))],
      ['statements in flight', formatMs(mean((t) => t.statements))],
      ['JavaScript between statements (sealing, hashing, SQL building)', formatMs(mean((t) => t.body - t.statements))],
      ['COMMIT (WAL flush)', formatMs(mean((t) => t.commit))],
      ['**transaction total**', `**${formatMs(total)}**`],
    ]
    const names = new Set(timings.flatMap((t) => [...t.byStatement.keys()]))
    for (const name of names) rows.push([`↳ ${name}`, formatMs(mean((t) => t.byStatement.get(name) ?? 0))])
    return markdownTable(['phase (mean per transaction)', 'ms'], rows)
  }
}
