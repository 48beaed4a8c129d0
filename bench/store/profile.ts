/**
 * Where an append's time goes: a driver wrapper that times every transaction (BEGIN,
 * the statements, JavaScript work between them, COMMIT) without touching the store's code,
 * and a report of the averages per transaction.
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

export function profileDriver(inner: SqlDriver): DriverProfile {
  let timings: TransactionTiming[] = []
  const now = () => performance.now()

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
    driver: { ...inner, kind: inner.kind, query: inner.query, exec: inner.exec, listen: inner.listen, close: inner.close, transaction },
    reset() {
      timings = []
    },
    transactions: () => timings.length,
    report() {
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
    },
  }
}
