/**
 * Who is calling: a Bearer token (or `?token=`, for browsers' EventSource and WebSocket),
 * verified against MNEMO_AUTH_SECRET; in open mode the caller names itself with
 * `X-Mnemo-Id/Name/Kind` headers (HTTP) or `?id=&name=&kind=` (WebSocket).
 */
import { AuthError } from '../auth/errors.js'
import { openIdentity, withRun, type Identity } from '../auth/identity.js'
import type { AuthMode } from '../auth/mode.js'
import { verifyToken } from '../auth/tokens.js'

export interface CallerHints {
  authorization?: string | null
  query: URLSearchParams
  headers: { get(name: string): string | null | undefined }
  /** WebSocket connections name themselves in the query; HTTP callers in headers. */
  transport: 'http' | 'ws'
}

export type Authenticate = (hints: CallerHints) => Promise<Identity>

export function createAuthenticator(mode: AuthMode): Authenticate {
  return async function authenticate({ authorization, query, headers, transport }) {
    const run = query.get('run') ?? headers.get('x-mnemo-run') ?? undefined
    if (mode.mode === 'open') {
      const pick = (q: string, h: string) => (transport === 'ws' ? query.get(q) : headers.get(h) ?? query.get(q)) ?? undefined
      return openIdentity({
        id: pick('id', 'x-mnemo-id'),
        name: pick('name', 'x-mnemo-name'),
        kind: pick('kind', 'x-mnemo-kind') as Identity['kind'] | undefined,
        run,
      })
    }
    const token = bearer(authorization) ?? query.get('token') ?? undefined
    if (!token) {
      throw new AuthError('token_missing', 'a token is required: send "Authorization: Bearer <token>" or ?token=<token> (mint one with `npx mnemo token`)')
    }
    const identity = await verifyToken(mode.secret, token)
    // A token bound to a run (its `run` claim) speaks for that run alone.
    if (identity.run !== undefined) {
      if (run !== undefined && run !== '' && run !== identity.run) {
        throw new AuthError('forbidden', `this token is bound to run ${JSON.stringify(identity.run)}: name that run, or none (got ${JSON.stringify(run.slice(0, 140))})`)
      }
      return identity
    }
    return withRun(identity, run)
  }
}

function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim())
  if (!match) throw new AuthError('token_invalid', 'the Authorization header must be "Bearer <token>"')
  return match[1]
}
