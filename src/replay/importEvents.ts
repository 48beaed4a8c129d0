/**
 * Importing an export into another store: the file is checked whole first (format, one
 * session starting at version 1, the hash chain), then written in one transaction with its
 * ids, versions, times and hashes intact; only positions are the target's own. A bad file,
 * or a session or event id the target already has, writes nothing.
 *
 * It writes through `store.appendSealed`, not `append`: append would stamp new times and so
 * new hashes. The same writer and the same append hooks (the memory projection) serve both.
 */
import { createChainChecker } from '../store/verify.js'
import type { EventStore, VerifyResult } from '../store/types.js'
import { ImportError, parseExportLine, parseHeadLine, type HeadRecord, type ImportedEvent } from './importFormat.js'
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
  /** Whether the file ended with a head record (exports before it have none: a cut tail goes unnoticed). */
  headRecord: boolean
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

/** Checks the whole file in constant memory; throws an ImportError naming the first bad line. */
export async function checkImportFile(open: LineSource, onProgress?: ImportOptions['onProgress']): Promise<CheckedFile> {
  const reader = readLines(open())
  const checker = createChainChecker()
  let first: ImportedEvent | undefined
  let last: ImportedEvent | undefined
  let count = 0
  let head: HeadRecord | undefined
  for await (const line of reader) {
    if (head) throw new ImportError(line.number, 'a line after the head record: the head record must be the last line')
    head = parseHeadLine(line.text, line.number)
    if (head) {
      if (first && head.session !== first.session) {
        throw new ImportError(line.number, `the head record names session "${head.session}", the events "${first.session}"`)
      }
      if (!checker.checkEnd(head)) throw new ImportError(line.number, chainProblem(checker.result()))
      continue
    }
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
    firstRecordedAt: first.recordedAt, lastRecordedAt: last.recordedAt, digest: reader.digest(), headRecord: head !== undefined,
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
  // The line of each id in the chunk being written, to name it when the store refuses one.
  let lines = new Map<string, number>()
  async function* chunks(): AsyncGenerator<ImportedEvent[]> {
    const reader = readLines(open())
    let chunk: ImportedEvent[] = []
    let read = 0
    for await (const line of reader) {
      if (parseHeadLine(line.text, line.number)) continue // checked in the first pass
      const event = parseExportLine(line.text, line.number, !line.terminated)
      const earlier = lines.get(event.id)
      if (earlier !== undefined) throw new ImportError(line.number, `event id ${event.id} already appears on line ${earlier}`)
      lines.set(event.id, line.number)
      chunk.push(event)
      read += 1
      if (chunk.length < chunkSize) continue
      yield chunk
      onProgress?.({ phase: 'write', lines: read, bytes: reader.bytes, total: checked.count })
      chunk = []
      lines = new Map()
    }
    // The first pass vouched for the bytes it read; these must be the same bytes.
    if (reader.digest() !== checked.digest || read !== checked.count) {
      throw new ImportError(read, 'the file changed while it was being imported; nothing was written')
    }
    if (chunk.length > 0) yield chunk
    onProgress?.({ phase: 'write', lines: read, bytes: reader.bytes, total: checked.count })
  }
  const result = await store.appendSealed(checked.session, chunks())
  if (result.ok) {
    return {
      session: checked.session, count: result.count, version: result.version, hash: result.hash,
      firstPosition: result.firstPosition, lastPosition: result.lastPosition,
    }
  }
  if (result.reason === 'session_exists') throw sessionExists(checked.session)
  const where = result.session === checked.session ? `at version ${result.version} of this file` : `here, in session "${result.session}"`
  throw new ImportError(lines.get(result.id) ?? 1, `event id ${result.id} is already recorded ${where}`)
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
