/**
 * Rows of the `events` table ↔ `StoredEvent`s ↔ JSON envelopes, and the type filters
 * (`memory.*`, `conversation.turn`) turned into SQL.
 */
import type { Actor, EventEnvelope, EventMeta, StoredEvent } from './types.js'

export const EVENT_COLUMNS =
  'position, id::text AS id, session_id, version, type, data, payload, actor, meta, recorded_at, hash, prev_hash'

export interface EventRow {
  position: number | string
  id: string
  session_id: string
  version: number
  type: string
  data: Record<string, unknown>
  payload: Uint8Array | null
  actor: Actor
  meta: EventMeta
  recorded_at: Date | string
  hash: string
  prev_hash: string
}

export function toStoredEvent(row: EventRow): StoredEvent {
  const event: StoredEvent = {
    id: row.id,
    session: row.session_id,
    position: Number(row.position),
    version: Number(row.version),
    type: row.type,
    data: row.data,
    actor: row.actor,
    meta: row.meta,
    recordedAt: new Date(row.recorded_at).toISOString(),
    hash: row.hash,
    prevHash: row.prev_hash,
  }
  if (row.payload) event.payload = new Uint8Array(row.payload)
  return event
}

/** The JSON form of the SPEC: a binary payload shows as base64 `data.update`. */
export function toEnvelope(event: StoredEvent): EventEnvelope {
  return {
    id: event.id,
    session: event.session,
    position: event.position,
    version: event.version,
    type: event.type,
    data: jsonData(event.data, event.payload),
    actor: event.actor,
    meta: event.meta,
    recordedAt: event.recordedAt,
    hash: event.hash,
    prevHash: event.prevHash,
  }
}

export function jsonData(data: Record<string, unknown>, payload: Uint8Array | undefined): Record<string, unknown> {
  if (!payload) return data
  return { ...data, update: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64') }
}

const TYPE_PATTERN = /^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/

export function isTypePattern(pattern: string): boolean {
  return TYPE_PATTERN.test(pattern)
}

/**
 * SQL for a type filter. Exact names go through `= ANY`, `prefix.*` through `LIKE ANY`
 * (with LIKE's own wildcards escaped). Returns undefined when nothing is filtered.
 */
export function typeFilter(types: string[] | undefined, nextParam: number): { sql: string; params: unknown[] } | undefined {
  if (!types || types.length === 0 || types.includes('*')) return undefined
  const exact: string[] = []
  const prefixes: string[] = []
  for (const t of types) {
    if (!isTypePattern(t)) throw new TypeError(`type filter "${t}" is not a type name or a pattern like "memory.*"`)
    if (t.endsWith('.*')) prefixes.push(t.slice(0, -1).replace(/[\\%_]/g, (c) => '\\' + c) + '%')
    else exact.push(t)
  }
  const clauses: string[] = []
  const params: unknown[] = []
  if (exact.length) {
    params.push(exact)
    clauses.push(`type = ANY($${nextParam + params.length - 1}::text[])`)
  }
  if (prefixes.length) {
    params.push(prefixes)
    clauses.push(`type LIKE ANY($${nextParam + params.length - 1}::text[])`)
  }
  return { sql: `(${clauses.join(' OR ')})`, params }
}
