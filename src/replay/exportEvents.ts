/**
 * Exporting a session as JSON Lines (see importFormat.ts), produced page by page so that
 * memory stays flat however long the session is, and pinned to the session's head when the
 * export starts: events appended meanwhile belong to the next export.
 */
import type { EventStore } from '../store/types.js'
import { toExportLine } from './importFormat.js'
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
  const to = until ?? (await store.head(session))?.position
  if (to === undefined) return
  let chunk = ''
  let lines = 0
  for await (const event of readTimeline(store, session, { to, pageSize })) {
    chunk += toExportLine(event)
    if (++lines === pageSize) {
      yield chunk
      chunk = ''
      lines = 0
    }
  }
  if (chunk) yield chunk
}
