/**
 * Exporting a session as JSON Lines (see importFormat.ts), produced page by page so that
 * memory stays flat however long the session is, and pinned to the session's head when the
 * export starts: events appended meanwhile belong to the next export. The last line is that
 * head (version and hash, as the sessions table records it), so that an export of a log whose
 * newest events went missing says so to whoever checks it.
 */
import type { EventStore } from '../store/types.js'
import { toExportLine, toHeadLine, type HeadRecord } from './importFormat.js'
import { readTimeline } from './timeline.js'

export interface ExportOptions {
  /** Events per database read (default 1000). */
  pageSize?: number
  /** Last position to include (default: the session's head when the export starts). */
  until?: number
}

/**
 * Yields the export in chunks of whole lines, one chunk per page read. Nothing is read
 * before the consumer asks for the next chunk, so a slow reader holds one page at most.
 *
 * @example
 * for await (const chunk of exportSession(store, 's1')) process.stdout.write(chunk)
 */
export async function* exportSession(
  store: EventStore, session: string, { pageSize = 1000, until }: ExportOptions = {},
): AsyncGenerator<string, void, undefined> {
  const head = await store.head(session)
  const to = until ?? head?.position
  if (to === undefined || !head) return
  // Up to a given position, the head is the last event exported; else the recorded head.
  let end: HeadRecord | undefined = until === undefined ? { session, version: head.version, hash: head.hash } : undefined
  let last: HeadRecord | undefined
  let chunk = ''
  let lines = 0
  for await (const event of readTimeline(store, session, { to, pageSize })) {
    chunk += toExportLine(event)
    last = { session, version: event.version, hash: event.hash }
    if (++lines === pageSize) {
      yield chunk
      chunk = ''
      lines = 0
    }
  }
  end ??= last
  if (end) chunk += toHeadLine(end)
  if (chunk) yield chunk
}
