/** Parsing of the query and path parameters the routes share, with errors naming the parameter. */
import type { Context } from 'hono'
import { sessionIdPattern } from '../vocabulary.js'
import { assertCan, type Action } from '../auth/roles.js'
import { isTypePattern } from '../store/rows.js'
import type { EventStore, SessionHead } from '../store/types.js'
import { badRequest, sessionNotFound } from './errors.js'
import { header } from './headers.js'

export function sessionParam(c: Context, action: Action): string {
  const id = c.req.param('id') ?? ''
  if (!sessionIdPattern.test(id)) {
    throw badRequest(`session id "${id.slice(0, 140)}" must match ${sessionIdPattern.source}`, 'invalid_session_id')
  }
  assertCan(c.get('identity'), action, id)
  return id
}

export function positionParam(c: Context, name: string): number | undefined {
  const raw = c.req.query(name)
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${name} must be a whole number ≥ 0 (got "${raw}")`)
  return n
}

/** The largest session version the store holds (its `version` column is a PostgreSQL integer). */
export const MAX_VERSION = 2_147_483_647

/** A session version bound (`afterVersion`, `throughVersion`): a whole number from 0 to MAX_VERSION. */
export function versionParam(c: Context, name: string): number | undefined {
  const n = positionParam(c, name)
  if (n !== undefined && n > MAX_VERSION) throw badRequest(`${name} must be a session version from 0 to ${MAX_VERSION} (got ${n})`)
  return n
}

export function limitParam(c: Context, fallback = 100, max = 1000): number {
  const n = positionParam(c, 'limit')
  if (n === undefined) return fallback
  if (n < 1 || n > max) throw badRequest(`limit must be from 1 to ${max} (got ${n})`)
  return n
}

export function typesParam(c: Context): string[] | undefined {
  const raw = c.req.query('types')
  if (!raw) return undefined
  const types = raw.split(',').map((t) => t.trim()).filter(Boolean)
  for (const t of types) {
    if (!isTypePattern(t)) throw badRequest(`types: "${t}" is not an event type or a pattern like "memory.*"`)
  }
  return types
}

// A date (UTC midnight) or a date-time with its zone: what `new Date()` reads the same
// everywhere. A date-time without a zone would be read in the server's local time.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/

/** An ISO 8601 date-time query parameter (with its zone), as it was given. */
export function timeParam(c: Context, name: string): string | undefined {
  // An unencoded "+01:00" arrives as " 01:00": a space has no other meaning here.
  const raw = c.req.query(name)?.replace(' ', '+')
  if (raw === undefined || raw === '') return undefined
  if (!ISO_TIME.test(raw) || Number.isNaN(Date.parse(raw))) {
    throw badRequest(`${name} must be an ISO 8601 date-time with its zone, like 2026-11-21T10:00:00.000Z (got "${raw.slice(0, 64)}")`)
  }
  return raw
}

/** `after` for streams: the Last-Event-ID header (a resuming EventSource) wins over ?after=. */
export function resumeParam(c: Context): number | undefined {
  const last = header(c, 'last-event-id')
  if (last !== undefined && last !== '') {
    const n = Number(last)
    if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`Last-Event-ID must be an event position (got "${last}")`)
    return n
  }
  return positionParam(c, 'after')
}

/** The session's head; a `session_not_found` 404 when it does not exist. */
export async function existingSession(store: EventStore, session: string): Promise<SessionHead> {
  const head = await store.head(session)
  if (!head) throw sessionNotFound(session)
  return head
}
