/** Parsing of the query and path parameters the routes share, with errors naming the parameter. */
import type { Context } from 'hono'
import { sessionIdPattern } from '../vocabulary.js'
import { assertCan, type Action } from '../auth/roles.js'
import { isTypePattern } from '../store/rows.js'
import type { EventStore, SessionHead } from '../store/types.js'
import { badRequest, sessionNotFound } from './errors.js'

export function sessionParam(c: Context, action: Action): string {
  const id = c.req.param('id') ?? ''
  if (!sessionIdPattern.test(id)) {
    throw badRequest(`session id "${id.slice(0, 140)}" must match ${sessionIdPattern.source}`, 'invalid_session_id')
  }
  assertCan(c.var.identity, action, id)
  return id
}

export function positionParam(c: Context, name: string): number | undefined {
  const raw = c.req.query(name)
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${name} must be a whole number ≥ 0 (got "${raw}")`)
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

/** `after` for streams: the Last-Event-ID header (a resuming EventSource) wins over ?after=. */
export function resumeParam(c: Context): number | undefined {
  const last = c.req.header('last-event-id')
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
