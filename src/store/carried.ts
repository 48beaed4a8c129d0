/**
 * The log's notifications (migrations/0010), read. A commit notifies its channel with the log's
 * new head, `'<head>'`; while other instances listen, the appender has it carry the events it
 * wrote as well, so that they take the commit from the notification instead of reading it back:
 *
 *     <head> <origin>
 *     <position of the first event>
 *     <payload flag 0|1><hash: 64 hex><prev_hash: 64 hex><canonical JSON of the event>
 *     …one line per event, positions contiguous
 *
 * The canonical JSON is the one the hash chain is made of (hash.ts), so it holds every field but
 * the position and the hashes; with the payload flag set, `data.update` is the event's binary
 * payload (base64), kept apart in the row as in memory. Every field but `data`'s key order reads
 * back as the row would; a line that does not read as an event, or whose hash is not its chain
 * hash, ends what is taken from the notification (the tail reader reads the rest).
 *
 * The channel is inside the database's trust boundary: PostgreSQL lets any role that can
 * connect NOTIFY any channel, so a role that may not write the log must not be able to connect
 * to its database (README, "Running several instances").
 */
import { createHash } from 'node:crypto'
import type { StoredEvent } from './types.js'

export interface LogNotification {
  /** The log's head after the commit; NaN when the notification has none (a LISTEN renewed). */
  head: number
  /** The tag of the process that committed, when it carried its events. */
  origin?: string
  /** The events carried (positions contiguous), when there are any. */
  events: StoredEvent[]
}

const HASH = /^[0-9a-f]{64}$/

/** Reads a notification; the events only when `origin` is not `own` (this process's are in memory). */
export function readNotification(payload: string, own?: string): LogNotification {
  const firstBreak = payload.indexOf('\n')
  const first = firstBreak < 0 ? payload : payload.slice(0, firstBreak)
  const space = first.indexOf(' ')
  const head = payload === '' ? NaN : Number(space < 0 ? first : first.slice(0, space))
  if (!Number.isSafeInteger(head)) return { head: NaN, events: [] }
  if (space < 0 || firstBreak < 0) return { head, events: [] }
  const origin = first.slice(space + 1)
  if (origin === own) return { head, origin, events: [] }
  const lines = payload.slice(firstBreak + 1).split('\n')
  const start = Number(lines[0])
  const events: StoredEvent[] = []
  if (!Number.isSafeInteger(start)) return { head, origin, events }
  for (let i = 1; i < lines.length; i++) {
    const event = readLine(lines[i], start + i - 1)
    if (!event) break
    events.push(event)
  }
  return { head, origin, events }
}

function readLine(line: string, position: number): StoredEvent | undefined {
  const flag = line[0]
  const hash = line.slice(1, 65)
  const prevHash = line.slice(65, 129)
  if ((flag !== '0' && flag !== '1') || !HASH.test(hash) || !HASH.test(prevHash)) return undefined
  const text = line.slice(129)
  // The chain's own check (hash.ts): a line changed on the way is not taken.
  if (createHash('sha256').update(prevHash).update(text).digest('hex') !== hash) return undefined
  let body: {
    id: string; session: string; version: number; type: string; data: Record<string, unknown>
    actor: StoredEvent['actor']; meta: StoredEvent['meta']; recordedAt: string
  }
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    return undefined
  }
  if (typeof body !== 'object' || body === null || typeof body.data !== 'object' || body.data === null) return undefined
  const event: StoredEvent = {
    id: body.id,
    session: body.session,
    position,
    version: body.version,
    type: body.type,
    data: body.data,
    actor: body.actor,
    meta: body.meta,
    recordedAt: body.recordedAt,
    hash,
    prevHash,
  }
  if (flag === '1') {
    const { update, ...rest } = body.data
    if (typeof update !== 'string') return undefined
    const bytes = Buffer.from(update, 'base64')
    event.payload = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    event.data = rest
  }
  return event
}
