/**
 * Who is on the other end of a connection or request: the identity a token (or, in open
 * mode, the query string) establishes, and the event-store `Actor` derived from it.
 */
import { randomUUID } from 'node:crypto'
import type { Actor } from '../vocabulary.js'
import type { Scope } from './capabilities.js'
import { AuthError } from './errors.js'

export type IdentityKind = 'human' | 'agent'
export type Role = 'viewer' | 'editor' | 'admin'

export const identityKinds: readonly IdentityKind[] = ['human', 'agent']
export const roles: readonly Role[] = ['viewer', 'editor', 'admin']

export interface Identity {
  id: string
  name: string
  kind: IdentityKind
  role: Role
  /** Session ids this identity may touch; `['*']` means every session. */
  sessions: string[]
  model?: string
  /** For agents: the id of the human the agent acts for. */
  onBehalfOf?: string
  /** Groups one agent's work: the token's `run` claim, else a connection's `?run=` (or `X-Mnemo-Run`). */
  run?: string
  /** Token expiry, seconds since the epoch; absent in open mode. */
  exp?: number
  /** The token's `can` claim, parsed; absent: the role's full rights. */
  scope?: Scope
  /** The token's `budget` claim: what its holder may write, per token and per run. */
  budget?: Budget
  /** The token's `jti`: which budget its writes count against. */
  tokenId?: string
}

/** A token's `budget` claim (control/budgets.ts counts against it). */
export interface Budget {
  /** Writes a minute: each Yjs update and each event appended counts one. */
  updatesPerMinute?: number
  /** Writes (Yjs updates and events) in the token's run. */
  eventsPerRun?: number
  /** Bytes written in the token's run: Yjs updates, and appended events' `data` as UTF-8 JSON. */
  bytesPerRun?: number
}

export const budgetLimits = ['updatesPerMinute', 'eventsPerRun', 'bytesPerRun'] as const satisfies readonly (keyof Budget)[]

/** Longest id, name, model, onBehalfOf or run we accept, in characters. */
export const maxLabelLength = 128

// Control characters, lone surrogates and line/paragraph separators would end up in
// logs, awareness and hashed actors, where they confuse readers and terminals.
const unprintable = /[\p{Cc}\p{Cs}\u2028\u2029]/u

/**
 * Why `value` is not an acceptable id/name/model/run, or undefined when it is.
 * Shared by open mode, the token claims and the CLI so they all say the same thing.
 */
export function labelProblem(value: string): string | undefined {
  if (value.trim() === '') return 'must not be empty'
  if ([...value].length > maxLabelLength) return `must be at most ${maxLabelLength} characters`
  if (unprintable.test(value)) return 'must contain only printable characters'
  return undefined
}

/** The actor recorded with every event this identity produces. */
export function toActor(identity: Identity): Actor {
  const actor: Actor = { id: identity.id, name: identity.name, kind: identity.kind }
  // Absent keys rather than `undefined` ones: actors are hashed as canonical JSON.
  if (identity.model !== undefined) actor.model = identity.model
  if (identity.onBehalfOf !== undefined) actor.onBehalfOf = identity.onBehalfOf
  if (identity.run !== undefined) actor.run = identity.run
  return actor
}

/** `identity` with the connection's `run` attached (validated; empty means none). */
export function withRun(identity: Identity, run?: string | null): Identity {
  const value = optionalParam('run', run)
  if (value === undefined) return identity
  return { ...identity, run: value }
}

export interface OpenIdentityParams {
  id?: string | null
  name?: string | null
  kind?: string | null
  run?: string | null
  model?: string | null
  onBehalfOf?: string | null
}

/**
 * The identity of a caller in open mode (no `MNEMO_AUTH_SECRET`): everyone is an admin
 * of every session, and names itself with `?id=&name=&kind=` (or `X-Mnemo-*` headers).
 * Parameters come straight from URLs, so `null` and `''` mean "not given".
 *
 * @example
 * openIdentity({ name: 'Ada' }) // { id: '3f…', name: 'Ada', kind: 'human', role: 'admin', sessions: ['*'] }
 */
export function openIdentity(params: OpenIdentityParams = {}): Identity {
  const id = optionalParam('id', params.id) ?? randomUUID()
  const name = optionalParam('name', params.name) ?? id
  const kind = optionalParam('kind', params.kind) ?? 'human'
  if (!identityKinds.includes(kind as IdentityKind)) {
    throw new AuthError('identity_invalid', `Parameter "kind" must be "human" or "agent", got ${JSON.stringify(kind)}`)
  }
  const identity: Identity = { id, name, kind: kind as IdentityKind, role: 'admin', sessions: ['*'] }
  const model = optionalParam('model', params.model)
  const onBehalfOf = optionalParam('onBehalfOf', params.onBehalfOf)
  if (model !== undefined) identity.model = model
  if (onBehalfOf !== undefined) identity.onBehalfOf = onBehalfOf
  return withRun(identity, params.run)
}

function optionalParam(param: string, value: string | null | undefined): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const problem = labelProblem(value)
  if (problem) throw new AuthError('identity_invalid', `Parameter "${param}" ${problem}`)
  return value
}
