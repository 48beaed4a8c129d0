/**
 * What each index of `events` costs a write, and what it serves (issue 11: "each index measured
 * for what it costs and what it serves"). One pgbench client inserts 100 `doc.update`-shaped rows
 * per transaction (the event every edit writes) into copies of `events` that differ only in their
 * indexes: all of them, all but one (for each secondary index in turn), and only the primary key.
 * The variants run in interleaved rounds (each round in a rotated order, so that no variant always
 * follows the same one), each on an emptied table, and the CPU per row of pgbench's backend is
 * read from /proc (not the background processes': the checkpointer writing out what the run
 * before left dirty would be billed to the next). What an index costs is how much more a row
 * costs with it than without it.
 */
import postgres from 'postgres'
import { withConnection } from '../lib/database.js'
import { formatInt, formatPercent, markdownTable } from '../lib/format.js'
import { eventRowsInsert, runPgbench, type EventRowLiterals, type PgbenchResult, type PgbenchWorkload } from './pgbench.js'

/** Which reads each index of `events` serves (from the store's and the server's queries). */
export const SERVES: Record<string, string> = {
  events_pkey: 'the log\'s order: the tail reader, every read by position (`readAll`, the feed\'s catch-up, export, verify); the primary key',
  events_id_key: 'idempotency: the duplicate check of every append (`mnemo_append_lookup`, `appendSealed`); a unique constraint',
  events_session_id_version_key: 'one event per session version (what `expectedVersion` relies on); version → position look-ups (`readDocChanges`, `readVersions`)',
  events_session_type: 'a session\'s events of some types: loading a document after its snapshot, blame, revert, proposals, participants, the newest memories',
  events_type: 'the log\'s events of some types: the memory projection\'s catch-up and rebuild, the graph cache, `GET /api/events?types=`, the update feed\'s catch-up',
  events_recorded_at: 'a session at a time: the timeline\'s `at=` points, `readDocChanges` between two times',
}

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!

export interface IndexCost {
  /** The index left out, or 'none' (every index kept) / 'all' (every secondary index left out: the heap and the primary key). */
  without: string
  rowsPerSec: number
  /** CPU of pgbench's PostgreSQL backend per row inserted, µs. */
  databaseUsPerRow: number
  rounds: number
}

const DOC_UPDATE_ROW: EventRowLiterals = {
  type: 'doc.update',
  data: `'${JSON.stringify({ bytes: 38, changes: [{ map: 'selections', key: 'c-123456789', op: 'set' }] }).replace(/":/g, '": ')}'::jsonb`,
  payload: "'\\x0101a1b2c3d4050028010a73656c656374696f6e730b632d3132333435363738390177'::bytea",
  actor: `'{"id": "user-1", "kind": "human", "name": "Ada"}'::jsonb`,
  meta: `'{}'::jsonb`,
  sessions: 100,
}

/**
 * Measures every variant `rounds` times, interleaved, `seconds` each, on the migrated database
 * at `url` (its `events` table is copied, never written).
 */
export async function measureIndexCosts(
  url: string, { seconds, rounds, log }: { seconds: number; rounds: number; log(text: string): void },
): Promise<IndexCost[]> {
  const indexes = await withConnection(url, (sql) => sql.unsafe<{ name: string; definition: string }[]>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
      WHERE schemaname = current_schema() AND tablename = 'events' ORDER BY indexname`))
  // The primary key stays in every variant: without it the copy would not be the log.
  const secondary = indexes.filter((i) => i.name !== 'events_pkey')
  const variants = [{ without: 'none' }, ...secondary.map((i) => ({ without: i.name })), { without: 'all' }]
  const tables = variants.map((_, n) => `pgbench_idx_${n}`)
  await withConnection(url, async (sql) => {
    await sql.unsafe('CREATE SEQUENCE IF NOT EXISTS pgbench_idx_position')
    for (const [n, variant] of variants.entries()) {
      const table = tables[n]!
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`)
      await sql.unsafe(`CREATE TABLE ${table} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`)
      for (const index of indexes) {
        if (index.name === variant.without || (variant.without === 'all' && index.name !== 'events_pkey')) continue
        // The copy gets the index as events has it, under its own name, on its own table.
        const copy = index.definition.replace(/^CREATE (UNIQUE )?INDEX \S+ ON (\S+\.)?events /, `CREATE $1INDEX ON ${table} `)
        // A definition of another shape would otherwise be run as it is, on events itself.
        if (copy === index.definition) throw new Error(`cannot copy index ${index.name} of events: unexpected definition "${index.definition}"`)
        await sql.unsafe(copy)
      }
    }
  })
  const runs = new Map<string, PgbenchResult[]>()
  const backends = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  const pgbenchBackend = async () => (await backends.unsafe<{ pid: number }[]>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbench'`)).map((r) => r.pid)
  try {
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < variants.length; k++) {
        const n = (k + round) % variants.length
        const variant = variants[n]!
        const table = tables[n]!
        const workload: PgbenchWorkload = {
          name: `100 doc.update rows into a copy of events without ${variant.without}`,
          // Every run starts on an empty table, so that no variant inserts into a bigger one.
          setupSql: `TRUNCATE ${table}`,
          script: eventRowsInsert(table, 'pgbench_idx_position', 100, DOC_UPDATE_ROW),
          rowsPerTransaction: 100,
          clients: 1,
          threads: 1,
          flags: ['-M', 'prepared'],
        }
        const result = await runPgbench(url, workload, { seconds, serverPids: pgbenchBackend })
        runs.set(variant.without, [...(runs.get(variant.without) ?? []), result])
      }
      log(`indexes: round ${round + 1} of ${rounds} done`)
    }
  } finally {
    await backends.end({ timeout: 2 })
    await withConnection(url, async (sql) => {
      for (const table of tables) await sql.unsafe(`DROP TABLE IF EXISTS ${table}`)
      await sql.unsafe('DROP SEQUENCE IF EXISTS pgbench_idx_position')
    })
  }
  return variants.map((variant) => {
    const results = runs.get(variant.without)!
    return {
      ...variant,
      rowsPerSec: median(results.map((r) => r.rowsPerSec)),
      databaseUsPerRow: median(results.map((r) => (r.cpu.tracked * r.cpu.windowMs * 1000) / (r.transactions * r.workload.rowsPerTransaction))),
      rounds: results.length,
    }
  })
}

/** The table of the report: per index, what a row costs without it against with every index. */
export function indexTable(costs: IndexCost[]): string {
  const all = costs.find((c) => c.without === 'none')!
  const heap = costs.find((c) => c.without === 'all')!
  const us = (v: number) => v.toFixed(1)
  const rows = costs.filter((c) => c !== all && c !== heap).map((c) => {
    const saved = all.databaseUsPerRow - c.databaseUsPerRow
    return [
      `\`${c.without}\``, SERVES[c.without] ?? '(not known to this benchmark)',
      formatInt(c.rowsPerSec), us(c.databaseUsPerRow), `${us(saved)} (${formatPercent(saved / all.databaseUsPerRow)})`,
    ]
  })
  return [
    `Each variant ${all.rounds} times, interleaved; medians. Rows/s of one pgbench client; the CPU of its PostgreSQL backend per row, from /proc.`,
    '',
    markdownTable(
      ['left out', 'what it serves', 'rows/s', 'PostgreSQL µs per row', 'the index costs, µs per row (share of a row)'],
      [
        ['nothing (every index)', '—', formatInt(all.rowsPerSec), us(all.databaseUsPerRow), '—'],
        ...rows,
        ['every index but the primary key (the heap and `events_pkey`)', '—', formatInt(heap.rowsPerSec), us(heap.databaseUsPerRow),
          `${us(all.databaseUsPerRow - heap.databaseUsPerRow)} for all ${rows.length} (${formatPercent((all.databaseUsPerRow - heap.databaseUsPerRow) / all.databaseUsPerRow)})`],
      ],
      ['left', 'left', 'right', 'right', 'right'],
    ),
  ].join('\n')
}
