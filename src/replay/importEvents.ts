/**
 * Importing an export into another store: the file is checked whole first (format, one
 * session starting at version 1, the hash chain), then written in one transaction with its
 * ids, versions, times and hashes intact; only positions are the target's own. A bad file,
 * or a session or event id the target already has, writes nothing.
 *
 * It bypasses `append` on purpose: append would stamp new times and so new hashes. The rows
 * and the session head are written exactly as src/store/appendEvents.ts writes them.
 */
import { notifyChannel } from '../store/openStore.js'
import { createChainChecker } from '../store/verify.js'
import type { AppendHook, EventStore, SqlExecutor, StoredEvent, VerifyResult } from '../store/types.js'
import { ImportError, parseExportLine, type ImportedEvent } from './importFormat.js'
import { readLines } from './lines.js'

/** Opens the file afresh: it is read twice (check, then write). */
export type LineSource = () => AsyncIterable<Buffer | Uint8Array | string>

export interface ImportProgress {
  phase: 'check' | 'write'
  lines: number
  bytes: number
  /** Lines to write (known in the write phase). */
  total?: number
}

export interface ImportOptions {
  /** Rows per INSERT (default 1000). */
  chunkSize?: number
  onProgress?(progress: ImportProgress): void
  /** The store's NOTIFY channel (default: the one openStore gives the current schema). */
  channel?: string
  /** Projections to keep in step, called in the transaction like append hooks. */
  afterInsert?: AppendHook
}

export interface CheckedFile {
  session: string
  count: number
  version: number
  hash: string
  firstRecordedAt: string
  lastRecordedAt: string
  /** SHA-256 of the file's bytes, to notice a file that changes between the passes. */
  digest: string
}

export interface ImportResult {
  session: string
  count: number
  version: number
  hash: string
  firstPosition: number
  lastPosition: number
}

const PROGRESS_EVERY = 1000
const ANALYZE_AFTER = 10_000

/** Checks the whole file in constant memory; throws an ImportError naming the first bad line. */
export async function checkImportFile(open: LineSource, onProgress?: ImportOptions['onProgress']): Promise<CheckedFile> {
  const reader = readLines(open())
  const checker = createChainChecker()
  let first: ImportedEvent | undefined
  let last: ImportedEvent | undefined
  let count = 0
  for await (const line of reader) {
    const event = parseExportLine(line.text, line.number, !line.terminated)
    if (!first) {
      first = event
      if (event.version !== 1) {
        throw new ImportError(line.number, `the file must start at version 1, and this line is version ${event.version}: export the whole session`)
      }
    } else if (event.session !== first.session) {
      throw new ImportError(line.number, `session "${event.session}" differs from line 1's "${first.session}": a file holds one session`)
    }
    if (!checker.check(event)) throw new ImportError(line.number, chainProblem(checker.result()))
    last = event
    count += 1
    if (count % PROGRESS_EVERY === 0) onProgress?.({ phase: 'check', lines: count, bytes: reader.bytes })
  }
  if (!first || !last) throw new ImportError(1, 'the file holds no events')
  onProgress?.({ phase: 'check', lines: count, bytes: reader.bytes })
  return {
    session: first.session, count, version: last.version, hash: last.hash,
    firstRecordedAt: first.recordedAt, lastRecordedAt: last.recordedAt, digest: reader.digest(),
  }
}

function chainProblem(result: VerifyResult): string {
  // The checker says "version 7: hash does not match its content"; the line already says where.
  return (result.reason ?? 'the hash chain does not verify').replace(/^version \d+: /, '')
}

/**
 * Checks, then imports `open`'s events as a new session.
 *
 * @example
 * await importEvents(store, () => createReadStream('s1.ndjson'))
 */
export async function importEvents(store: EventStore, open: LineSource, options: ImportOptions = {}): Promise<ImportResult> {
  const { chunkSize = 1000, onProgress } = options
  // A taken session id is refused before checking a file that may take minutes to check.
  const named = await firstSession(open)
  if (named !== undefined && (await store.head(named))) throw sessionExists(named)
  const checked = await checkImportFile(open, onProgress)
  if (await store.head(checked.session)) throw sessionExists(checked.session)
  const channel = options.channel ?? (await defaultChannel(store))
  const result = await store.driver.transaction(async (tx) => {
    // The log_head lock orders this import with every other writer (migrations/0001).
    const [{ position: locked }] = await tx.query<{ position: string | number }>('SELECT position FROM log_head FOR UPDATE')
    const taken = await tx.query('SELECT 1 FROM sessions WHERE id = $1', [checked.session])
    if (taken.length > 0) throw sessionExists(checked.session)
    let position = Number(locked)
    const firstPosition = position + 1
    const reader = readLines(open())
    let chunk: { event: ImportedEvent; line: number }[] = []
    let written = 0
    const flush = async () => {
      if (chunk.length === 0) return
      await refuseKnownIds(tx, chunk)
      const rows: StoredEvent[] = chunk.map(({ event }) => ({ ...event, position: ++position }))
      await insertRows(tx, rows)
      await options.afterInsert?.(tx, rows)
      written += rows.length
      onProgress?.({ phase: 'write', lines: written, bytes: reader.bytes, total: checked.count })
      chunk = []
    }
    for await (const line of reader) {
      chunk.push({ event: parseExportLine(line.text, line.number, !line.terminated), line: line.number })
      if (chunk.length >= chunkSize) await flush()
    }
    await flush()
    // The first pass vouched for the bytes it read; these must be the same bytes.
    if (reader.digest() !== checked.digest || written !== checked.count) {
      throw new ImportError(written, 'the file changed while it was being imported; nothing was written')
    }
    await tx.query(
      `WITH head AS (
         INSERT INTO sessions (id, version, hash, position, created_at, updated_at)
         VALUES ($1::text, $2::int, $3::text, $4::bigint, $5::timestamptz, $6::timestamptz)
       ), moved AS (
         UPDATE log_head SET position = $4::bigint
       )
       SELECT pg_notify($7::text, $8::text)`,
      [checked.session, checked.version, checked.hash, position, checked.firstRecordedAt, checked.lastRecordedAt,
        channel, String(position)],
    )
    return { session: checked.session, count: written, version: checked.version, hash: checked.hash, firstPosition, lastPosition: position }
  })
  // A bulk load leaves the planner's statistics behind (and autovacuum may be off, or slow to
  // notice): without fresh ones, its plans for this session's reads can be far off.
  if (result.count >= ANALYZE_AFTER) await store.driver.query('ANALYZE events').catch(() => {})
  return result
}

/** The session the first line names, if it can be read (the check pass judges the rest). */
async function firstSession(open: LineSource): Promise<string | undefined> {
  for await (const line of readLines(open())) {
    try {
      const session = (JSON.parse(line.text) as { session?: unknown } | null)?.session
      return typeof session === 'string' ? session : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

const sessionExists = (session: string) =>
  new ImportError(1, `session "${session}" already exists here; nothing was imported (import into another database, or verify the one you have)`)

/** The channel openStore gives a store in the current schema. */
async function defaultChannel(store: EventStore): Promise<string> {
  const [row] = await store.driver.query<{ schema: string }>('SELECT current_schema() AS schema')
  return notifyChannel(row?.schema ?? undefined)
}

async function refuseKnownIds(tx: SqlExecutor, chunk: { event: ImportedEvent; line: number }[]): Promise<void> {
  const lines = new Map<string, number>()
  for (const { event, line } of chunk) {
    const earlier = lines.get(event.id)
    if (earlier !== undefined) throw new ImportError(line, `event id ${event.id} already appears on line ${earlier}`)
    lines.set(event.id, line)
  }
  // Also finds ids of earlier chunks of this file: the transaction sees its own rows.
  const known = await tx.query<{ id: string; session_id: string; version: number }>(
    'SELECT id::text AS id, session_id, version FROM events WHERE id = ANY($1::uuid[]) LIMIT 1', [[...lines.keys()]],
  )
  if (known.length > 0) {
    const { id, session_id: session, version } = known[0]
    const where = session === chunk[0].event.session ? `at version ${version} of this file` : `here, in session "${session}"`
    throw new ImportError(lines.get(id)!, `event id ${id} is already recorded ${where}`)
  }
}

/**
 * One INSERT per chunk, its rows as one JSON parameter: far fewer bind parameters than a
 * VALUES list (about twice as fast), the same columns and casts as appendEvents' insert.
 */
async function insertRows(tx: SqlExecutor, events: StoredEvent[]): Promise<void> {
  const rows = events.map((e) => ({
    position: e.position, id: e.id, session_id: e.session, version: e.version, type: e.type, data: e.data,
    payload: e.payload ? Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).toString('base64') : null,
    actor: e.actor, meta: e.meta, recorded_at: e.recordedAt, hash: e.hash, prev_hash: e.prevHash,
  }))
  await tx.query(
    `INSERT INTO events (position, id, session_id, version, type, data, payload, actor, meta, recorded_at, hash, prev_hash)
     SELECT position, id, session_id, version, type, data, decode(payload, 'base64'), actor, meta, recorded_at, hash, prev_hash
     FROM json_to_recordset($1::text::json) AS x(position bigint, id uuid, session_id text, version int, type text,
       data jsonb, payload text, actor jsonb, meta jsonb, recorded_at timestamptz, hash text, prev_hash text)`,
    [JSON.stringify(rows)],
  )
}
