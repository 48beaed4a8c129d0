/**
 * Resolves the caller's identity once per request and keeps it in the context, read with
 * `c.get('identity')` (hono's `c.var` copies every variable into a new object at each read).
 */
import type { MiddlewareHandler } from 'hono'
import type { Identity } from '../../auth/identity.js'
import type { Authenticate } from '../authenticate.js'
import { header } from '../headers.js'

declare module 'hono' {
  interface ContextVariableMap {
    identity: Identity
  }
}

/** Paths anyone may call without a token: probes, the API description, and the inspector page with its assets. */
const PUBLIC = new Set(['/health', '/metrics', '/', '/openapi.json', '/docs'])
const isPublic = (path: string) => PUBLIC.has(path) || path.startsWith('/assets/') || path.startsWith('/docs/')

export const identify = (authenticate: Authenticate): MiddlewareHandler =>
  async function identify(c, next) {
    if (isPublic(c.req.path)) return next()
    const url = new URL(c.req.url)
    c.set('identity', await authenticate({
      authorization: header(c, 'authorization'),
      query: url.searchParams,
      headers: { get: (name) => header(c, name) },
      transport: 'http',
    }))
    return next()
  }
