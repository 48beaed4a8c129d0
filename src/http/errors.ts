/**
 * The one HTTP error type and the one error handler: every failure leaves the API as
 * `{ "error": { "code", "message", … } }` with a fitting status (more fields where they say more:
 * a `stale_write`'s `details`, a budget's `reason`).
 */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { isAuthError } from '../auth/errors.js'
import type { Logger } from '../log.js'

export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More fields of `error` beside code and message (a budget's `reason` and `budget`, say). */
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

export const badRequest = (message: string, code = 'invalid_request') => new HttpError(400, code, message)
export const notFound = (message: string) => new HttpError(404, 'not_found', message)

/** Every read of one session that does not exist answers this (the SPEC's HTTP API). */
export const sessionNotFound = (session: string) =>
  new HttpError(404, 'session_not_found', `session "${session}" does not exist (GET /api/sessions lists the sessions you may read)`)

export function errorBody(code: string, message: string, fields: Record<string, unknown> = {}) {
  return { error: { ...fields, code, message } }
}

export function createErrorHandler(log: Logger) {
  return function onError(error: Error, c: Context) {
    if (error instanceof HttpError) {
      for (const [k, v] of Object.entries(error.headers)) c.header(k, v)
      return c.json(errorBody(error.code, error.message, error.fields), error.status)
    }
    if (isAuthError(error)) return c.json(errorBody(error.code, error.message), error.status)
    log.error({ err: error, path: c.req.path }, 'request failed')
    if (isUnavailable(error)) {
      c.header('Retry-After', '2')
      return c.json(errorBody('store_unavailable', 'the event store is unavailable; try again shortly'), 503)
    }
    return c.json(errorBody('internal', 'internal error'), 500)
  }
}

/** Errors that mean "the database is away", as opposed to bugs. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code ?? ''
  return ['ECONNREFUSED', 'ECONNRESET', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
    'CONNECT_TIMEOUT', '57P01', '57P02', '57P03', '08006', '08001', '08003', '08004'].includes(code)
}
