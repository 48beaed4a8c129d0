/**
 * Who the SDK speaks as: with a token, the identity its claims name (read, not verified:
 * the server verifies); without one (open mode), the id, name and kind the caller chose. The
 * same identity goes into the sync URL's query and the HTTP headers, with the run id.
 */
import { randomUUID } from 'node:crypto'
import { MnemoError } from './errors.js'

export interface AgentIdentity {
  id: string
  name: string
  kind: 'human' | 'agent'
  /** The token's role; open mode is `admin`. */
  role: 'viewer' | 'editor' | 'admin'
  model?: string
  onBehalfOf?: string
  /** Groups this agent's work in the log (the connection's `?run=`, the `X-Mnemo-Run` header). */
  run: string
}

export interface IdentityOptions {
  token?: string
  /** Open mode only (a token names the identity itself). */
  id?: string
  name?: string
  kind?: 'human' | 'agent'
  run?: string
}

/** A run id like `run-3f9c2a1b`: short enough to show in a timeline. */
const newRunId = (): string => `run-${randomUUID().slice(0, 8)}`

export function resolveIdentity(options: IdentityOptions): AgentIdentity {
  const claims = options.token === undefined ? undefined : readClaims(options.token)
  // A token bound to a run (its `run` claim) may name no other.
  const bound = typeof claims?.run === 'string' ? claims.run : undefined
  if (bound !== undefined && options.run !== undefined && options.run !== bound) {
    throw new MnemoError(400, 'invalid_run', `this token is bound to run ${JSON.stringify(bound)}; leave run out or pass that one (got ${JSON.stringify(options.run)})`)
  }
  const run = options.run ?? bound ?? newRunId()
  if (!/^[\x21-\x7e]{1,128}$/.test(run)) {
    throw new MnemoError(400, 'invalid_run', `run must be 1 to 128 visible ASCII characters (it goes into a header), got ${JSON.stringify(run)}`)
  }
  if (claims === undefined) {
    const id = options.id ?? `agent-${randomUUID().slice(0, 8)}`
    return { id, name: options.name ?? id, kind: options.kind ?? 'agent', role: 'admin', run }
  }
  const identity: AgentIdentity = {
    id: claims.sub,
    name: typeof claims.name === 'string' ? claims.name : claims.sub,
    kind: claims.kind === 'human' ? 'human' : 'agent',
    role: claims.role === 'viewer' || claims.role === 'admin' ? claims.role : 'editor',
    run,
  }
  if (typeof claims.model === 'string') identity.model = claims.model
  if (typeof claims.onBehalfOf === 'string') identity.onBehalfOf = claims.onBehalfOf
  return identity
}

interface Claims {
  sub: string
  [claim: string]: unknown
}

/** The JWT's payload; throws a MnemoError(401) when `token` is not a JWT at all. */
function readClaims(token: string): Claims {
  const part = token.split('.')[1]
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'))
  } catch {
    claims = undefined
  }
  if (typeof claims !== 'object' || claims === null || typeof (claims as Claims).sub !== 'string') {
    throw new MnemoError(401, 'token_invalid', 'the token is not a mnemo token (a JWT with a `sub`); mint one with `npx mnemo token`')
  }
  return claims as Claims
}

/** Query parameters of the sync URL: the token, or open mode's self-description; and the run. */
export function syncParams(identity: AgentIdentity, token: string | undefined): Record<string, string> {
  if (token !== undefined) return { token, run: identity.run }
  return { id: identity.id, name: identity.name, kind: identity.kind, run: identity.run }
}

export interface HttpIdentity {
  headers: Record<string, string>
  /** Added to every URL: open mode's self-description when it is not plain ASCII (headers cannot carry it). */
  query: Record<string, string>
}

/** How every HTTP request names its caller: the bearer token, or open mode's `X-Mnemo-*`; and the run. */
export function httpIdentity(identity: AgentIdentity, token: string | undefined): HttpIdentity {
  const headers: Record<string, string> = { 'x-mnemo-run': identity.run }
  if (token !== undefined) return { headers: { ...headers, authorization: `Bearer ${token}` }, query: {} }
  const self = { id: identity.id, name: identity.name, kind: identity.kind }
  // The server reads the header first and the query second, so either works; headers keep URLs clean.
  if (Object.values(self).every((v) => /^[\x20-\x7e]*$/.test(v))) {
    return { headers: { ...headers, 'x-mnemo-id': self.id, 'x-mnemo-name': self.name, 'x-mnemo-kind': self.kind }, query: {} }
  }
  return { headers, query: self }
}
