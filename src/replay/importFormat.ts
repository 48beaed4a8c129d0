/**
 * The export format, line by line: one event envelope (SPEC "Events") as JSON per line, in
 * version order, a `doc.update`'s Yjs update base64 in `data.update`; then, as the last line,
 * a head record `{"head":{"session","version","hash"}}`: where the session's chain ended when
 * it was exported, so that an offline check notices a file (or a log) whose tail was cut.
 * Files without the head record (older exports) are still read. Reading a line back checks
 * everything a row of `events` needs; the hash chain is checked by the caller.
 */
import { z } from 'zod'
import { sessionIdPattern } from '../vocabulary.js'
import { toEnvelope } from '../store/rows.js'
import type { Actor, EventMeta, StoredEvent } from '../store/types.js'

/** A problem with the file, at a line (1-based). */
export class ImportError extends Error {
  override name = 'ImportError'
  constructor(readonly line: number, readonly problem: string) {
    super(`line ${line}: ${problem}`)
  }
}

/** An event as it will be inserted: everything but its position, which the target assigns. */
export type ImportedEvent = Omit<StoredEvent, 'position'>

/** The line of the export for `event`, newline included. */
export function toExportLine(event: StoredEvent): string {
  return JSON.stringify(toEnvelope(event)) + '\n'
}

/** The export's last line: the session's head as it was exported. */
export interface HeadRecord {
  session: string
  version: number
  hash: string
}

export function toHeadLine(head: HeadRecord): string {
  return JSON.stringify({ head: { session: head.session, version: head.version, hash: head.hash } }) + '\n'
}

const HEX64 = /^[0-9a-f]{64}$/
// The store's own rule (any UUID layout, lowercase as it stores them), not RFC 9562's.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const Envelope = z.object({
  id: z.string().regex(UUID, 'must be a lowercase UUID'),
  session: z.string().regex(sessionIdPattern),
  version: z.int().min(1),
  type: z.string().min(1).max(128),
  // Not z.record: it copies into a fresh object, where a `__proto__` key sets the prototype
  // and vanishes (and the hash no longer matches).
  data: z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'must be a JSON object'),
  actor: z.looseObject({ id: z.string(), name: z.string(), kind: z.enum(['human', 'agent', 'server']) }),
  meta: z.looseObject({ causationId: z.string().nullable(), correlationId: z.string().nullable() }),
  recordedAt: z.string(),
  hash: z.string().regex(HEX64, 'must be 64 lowercase hex digits'),
  prevHash: z.string().regex(HEX64, 'must be 64 lowercase hex digits'),
})

const HeadLine = z.strictObject({
  head: z.strictObject({ session: z.string().regex(sessionIdPattern), version: z.int().min(1), hash: z.string().regex(HEX64) }),
})

/** The head record if `text` is one (a line whose only field is `head`), else undefined. */
export function parseHeadLine(text: string, line: number): HeadRecord | undefined {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof json !== 'object' || json === null || !('head' in json)) return undefined
  const parsed = HeadLine.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ImportError(line, `not a head record: ${issue.path.join('.') || 'line'}: ${issue.message}`)
  }
  return parsed.data.head
}

/**
 * Parses and checks one line. A `doc.update`'s `data.update` becomes the binary payload,
 * as the store keeps it; the base64 must be canonical so that the hash still matches.
 */
export function parseExportLine(text: string, line: number, lastLine: boolean): ImportedEvent {
  if (text.trim() === '') throw new ImportError(line, 'empty line: every line must be one event')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    const hint = lastLine ? ' (the file ends in the middle of a line: it looks truncated)' : ''
    throw new ImportError(line, `not valid JSON${hint}: ${(error as Error).message}`)
  }
  const parsed = Envelope.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ImportError(line, `not an event envelope: ${issue.path.join('.') || 'line'}: ${issue.message}`)
  }
  const e = parsed.data
  if (new Date(e.recordedAt).toISOString() !== e.recordedAt) {
    throw new ImportError(line, `recordedAt "${e.recordedAt}" must be an ISO date-time like 2026-11-21T10:00:00.000Z`)
  }
  const event: ImportedEvent = {
    id: e.id, session: e.session, version: e.version, type: e.type, data: e.data,
    actor: e.actor as Actor, meta: e.meta as EventMeta, recordedAt: e.recordedAt, hash: e.hash, prevHash: e.prevHash,
  }
  if (e.type === 'doc.update' && 'update' in e.data) {
    const { update, ...rest } = e.data
    const bytes = typeof update === 'string' ? Buffer.from(update, 'base64') : undefined
    if (!bytes || bytes.toString('base64') !== update) {
      throw new ImportError(line, 'data.update of a doc.update must be base64 (the Yjs update)')
    }
    event.data = rest
    event.payload = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  return event
}
