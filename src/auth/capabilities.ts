/**
 * A token's `can` claim: the capabilities it is scoped to, parsed once when the token is
 * verified. Absent, the token has its role's full rights; present, it may write only what it
 * lists — document collections (`annotations:write`), its own votes (`decisions:vote`), and
 * event types it may append (`memory.*:append`). Pure: collab/ and http/ turn refusals into 4403 / 403.
 */
import { AuthError } from './errors.js'
import type { Identity } from './identity.js'

/** The document collections a `…:write` capability may name (the session document's roots). */
export const WRITABLE_COLLECTIONS = ['selections', 'explorationPath', 'annotations', 'decisions'] as const
export type WritableCollection = (typeof WRITABLE_COLLECTIONS)[number]

/** What a scoped token may write. */
export interface Scope {
  /** The claim as the token gave it, deduplicated (for messages). */
  readonly can: readonly string[]
  /** Collections it may write in full. */
  readonly writes: ReadonlySet<string>
  /** `decisions:vote`: may add, change and remove its own entries of a decision's `votes`. */
  readonly vote: boolean
  /** Event types or patterns (`*`, `memory.*`, `conversation.turn`) it may append. */
  readonly appends: readonly string[]
}

/** `*`, a type name `a.b`, or a prefix pattern `a.*` (lowercase segments, as client types are). */
const APPEND_PATTERN = /^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/

/** Longest capability we read, in characters (a type is at most 128, plus `:append`). */
const MAX_CAPABILITY_CHARS = 160

/** Why `capability` is not one, or undefined when it is. Shared by minting, verifying and the CLI. */
export function capabilityProblem(capability: string): string | undefined {
  const shown = JSON.stringify(capability.length > 80 ? `${capability.slice(0, 80)}…` : capability)
  const hint = `use <collection>:write (${WRITABLE_COLLECTIONS.join(', ')}), decisions:vote, or <event type or pattern>:append like memory.*:append`
  if (capability.length > MAX_CAPABILITY_CHARS) return `${shown} is not a capability (too long)`
  const colon = capability.lastIndexOf(':')
  const subject = capability.slice(0, colon)
  const verb = capability.slice(colon + 1)
  if (colon > 0 && verb === 'write' && (WRITABLE_COLLECTIONS as readonly string[]).includes(subject)) return undefined
  if (capability === 'decisions:vote') return undefined
  if (colon > 0 && verb === 'append' && APPEND_PATTERN.test(subject)) return undefined
  return `${shown} is not a capability: ${hint}`
}

/**
 * The scope of a verified `can` claim. Throws an `Error` naming the first unknown capability;
 * the token layer turns that into a refused token.
 *
 * @example
 * parseScope(['annotations:write', 'memory.*:append']).writes // Set { 'annotations' }
 */
export function parseScope(can: readonly string[]): Scope {
  const writes = new Set<string>()
  const appends: string[] = []
  let vote = false
  const unique = [...new Set(can)]
  for (const capability of unique) {
    const problem = capabilityProblem(capability)
    if (problem) throw new Error(problem)
    const colon = capability.lastIndexOf(':')
    const subject = capability.slice(0, colon)
    const verb = capability.slice(colon + 1)
    if (verb === 'write') writes.add(subject)
    else if (verb === 'vote') vote = true
    else appends.push(subject)
  }
  return { can: unique, writes, vote, appends }
}

/** Whether `pattern` (`*`, `a.*`, or an exact name) covers `type`. */
function covers(pattern: string, type: string): boolean {
  if (pattern === '*' || pattern === type) return true
  return pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))
}

/** Whether `identity` may append events of `type` (always, without a `can` claim). */
export function mayAppend(identity: Pick<Identity, 'scope'>, type: string): boolean {
  return identity.scope === undefined || identity.scope.appends.some((pattern) => covers(pattern, type))
}

/** Like `mayAppend`, but throws the 403 naming the type and what the token may do instead. */
export function assertMayAppend(identity: Pick<Identity, 'id' | 'scope'>, type: string): void {
  if (mayAppend(identity, type)) return
  throw new AuthError('out_of_scope',
    `Forbidden: this token may not append ${JSON.stringify(type)} events (it needs ${type}:append or a pattern covering it; its \`can\` is ${describeScope(identity.scope!)})`)
}

/**
 * Throws a 403 when `identity` is scoped: for writes broader than any capability names
 * (fork, import), which only a token with its role's full rights may make.
 */
export function assertUnscoped(identity: Pick<Identity, 'scope'>, what: string): void {
  if (identity.scope === undefined) return
  throw new AuthError('out_of_scope', `Forbidden: ${what} needs a token without a \`can\` claim; this one's \`can\` is ${describeScope(identity.scope)}`)
}

/** The collection each document operation (the SDK's, `POST …/doc`'s) writes. */
const OP_COLLECTION: Record<string, WritableCollection> = {
  select: 'selections', deselect: 'selections', explore: 'explorationPath', annotate: 'annotations',
  resolve: 'annotations', propose: 'decisions', reject: 'decisions', vote: 'decisions',
}

/**
 * Refuses (403 `out_of_scope`) document operations a scoped token may not do: each must be in a
 * collection its `can` lets it write, or a `vote` with `decisions:vote` (a vote is the voter's own
 * entry). The same rule the sync socket applies to Yjs updates (collab/scope.ts).
 */
export function assertMayWriteOps(identity: Pick<Identity, 'scope'>, ops: readonly { op: string }[]): void {
  const scope = identity.scope
  if (scope === undefined) return
  for (const { op } of ops) {
    const collection = OP_COLLECTION[op]
    if (collection !== undefined && scope.writes.has(collection)) continue
    if (op === 'vote' && scope.vote) continue
    const needs = op === 'vote' ? `${collection}:write or decisions:vote` : `${collection ?? op}:write`
    throw new AuthError('out_of_scope', `Forbidden: "${op}" needs ${needs}; this token's \`can\` is ${describeScope(scope)}`)
  }
}

/** The claim as a short list for messages: `annotations:write, memory.*:append` (or `[]`). */
export function describeScope(scope: Scope): string {
  return scope.can.length === 0 ? '[] (nothing)' : scope.can.join(', ')
}
