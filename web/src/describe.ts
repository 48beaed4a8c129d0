/** Plain-language lines for the timeline: who did what, from an event's envelope. */
import type { Change, DocChange } from '../../src/session/schema.js'
import type { Actor, Envelope } from './api.js'

/** "Navigator (for alice), run 7" */
export function describeActor(actor: Actor): string {
  let who = actor.name || actor.id
  if (actor.onBehalfOf) who += ` (for ${actor.onBehalfOf})`
  if (actor.run) who += `, run ${actor.run}`
  return who
}

const VERBS: Record<DocChange['path'], Partial<Record<Change['op'], string>>> = {
  selections: { add: 'selected', update: 'reselected', delete: 'deselected' },
  explorationPath: { add: 'explored', update: 'changed the step at', delete: 'removed the step at' },
  annotations: { add: 'annotated', update: 'edited annotation', delete: 'deleted annotation' },
  decisions: { add: 'opened decision', update: 'updated decision', delete: 'deleted decision' },
  richText: { update: 'edited the rich text' },
}

/** "updated decision d1 (votes: ada, nav)", "edited annotation a1 (text)": what summaries say beyond the entry. */
export function describeChange(change: DocChange): string {
  const what = `${VERBS[change.path]?.[change.op] ?? `${change.op} ${change.path}`} ${change.key}`
  if (change.path === 'richText') return what
  const votes = Array.isArray(change.votes) && change.votes.length > 0 ? change.votes.map((v) => v.key).join(', ') : undefined
  if (votes) return `${what} (votes: ${votes})`
  return Array.isArray(change.fields) && change.fields.length > 0 ? `${what} (${change.fields.join(', ')})` : what
}

const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))

/** What happened, without the actor. */
export function describeWhat(event: Envelope): string {
  const d = event.data
  switch (event.type) {
    case 'doc.update': {
      const changes = Array.isArray(d.changes) ? d.changes as DocChange[] : []
      return changes.length > 0 ? changes.map(describeChange).join(', ') : 'a document update with no schema change'
    }
    case 'session.created': return `created the session${d.title ? ` "${str(d.title)}"` : ''}`
    case 'participant.joined': return 'joined'
    case 'participant.left': return 'left'
    case 'memory.formed': return `formed ${str(d.memoryId)}: ${str(d.content)}`
    case 'memory.connected': return `connected ${str(d.from)} – ${str(d.to)} (${str(d.strength)})`
    case 'memory.strength_changed': return `changed ${str(d.from)} – ${str(d.to)} to ${str(d.strength)}`
    case 'memory.cascade': return `cascade from ${str(d.source)} reached ${Array.isArray(d.affected) ? d.affected.length : 0}`
    case 'memory.retrieved': return `searched "${str(d.query)}" (${Array.isArray(d.results) ? d.results.length : 0} results)`
    case 'conversation.turn': return `${str(d.role)}: ${str(d.content)}`
    case 'decision.reached': return `decision ${str(d.decisionId)} reached: ${str(d.outcome)}`
    case 'proposal.opened': return `proposed "${str(d.title)}" (${Array.isArray(d.ops) ? d.ops.length : 0} operations)`
    case 'proposal.accepted': return `accepted proposal ${str(d.proposal)}${Array.isArray(d.conflicts) && d.conflicts.length > 0 ? ` (${d.conflicts.length} conflicts)` : ''}`
    case 'proposal.rejected': return `rejected proposal ${str(d.proposal)}`
    case 'run.reverted': return `reverted run ${str(d.run)} (its memory events retracted)`
    default: return JSON.stringify(d).slice(0, 200)
  }
}

export function describeEvent(event: Envelope): string {
  return `${describeActor(event.actor)}: ${describeWhat(event)}`
}

/** The lower-cased text the free-text filter searches in. */
export function searchText(event: Envelope): string {
  return `${event.type} ${describeEvent(event)} ${event.actor.id} ${event.meta?.rationale ?? ''}`.toLowerCase()
}

export interface Participant {
  id: string
  name: string
  kind: string
  model?: string
  onBehalfOf?: string
  online: boolean
}

/**
 * Who took part, folded from participant.joined / participant.left as the server folds them
 * (online = joined more often than left), with the model and principal their actor carries.
 */
export function foldParticipants(events: readonly Envelope[]): Participant[] {
  const byId = new Map<string, Participant & { open: number }>()
  for (const event of events) {
    if (event.type !== 'participant.joined' && event.type !== 'participant.left') continue
    const p = event.data.participant as { id?: string; name?: string; kind?: string } | undefined
    if (!p || typeof p.id !== 'string') continue
    const entry = byId.get(p.id) ?? { id: p.id, name: p.name ?? p.id, kind: p.kind ?? 'human', online: false, open: 0 }
    if (event.actor.id === p.id) {
      if (event.actor.model) entry.model = event.actor.model
      if (event.actor.onBehalfOf) entry.onBehalfOf = event.actor.onBehalfOf
    }
    entry.open = event.type === 'participant.joined' ? entry.open + 1 : Math.max(0, entry.open - 1)
    entry.online = entry.open > 0
    byId.set(p.id, entry)
  }
  return [...byId.values()].map(({ open: _open, ...rest }) => rest)
}
