/**
 * Decisions: proposing, voting, rejecting, and the quorum rule by which the server (itself
 * a peer) accepts them. Each write is one Yjs transaction carrying the optional `origin`.
 */
import * as Y from 'yjs'
import { randomId } from './randomId.js'
import { readDecision } from './readState.js'
import { getDecisions, type EntryMap } from './roots.js'
import type { Decision } from './schema.js'
import { requireId } from './write.js'

export interface NewDecision {
  question: string
  options: string[]
  /** How many votes for one option accept it: a positive integer. */
  quorum: number
  createdBy: string
  /** Default: a random uuid. */
  id?: string
}

/** Opens a decision; returns its id. */
export function propose(doc: Y.Doc, decision: NewDecision, origin?: unknown): string {
  const { question, options, quorum, createdBy, id = randomId() } = decision
  requireId(id, 'decision id')
  if (options.length === 0 || options.some(o => typeof o !== 'string' || o.length === 0)) {
    throw new Error('options must be a non-empty list of non-empty strings')
  }
  if (new Set(options).size !== options.length) throw new Error(`options must be distinct: ${options.join(', ')}`)
  if (!Number.isInteger(quorum) || quorum < 1) throw new Error(`quorum must be a positive integer, not ${quorum}`)
  const decisions = getDecisions(doc)
  if (decisions.has(id)) throw new Error(`Decision "${id}" already exists; pass another id or omit it`)
  doc.transact(() => {
    const entry = new Y.Map<unknown>()
    entry.set('id', id)
    entry.set('question', question)
    entry.set('options', Y.Array.from(options))
    entry.set('votes', new Y.Map<string>())
    entry.set('quorum', quorum)
    entry.set('status', 'open')
    entry.set('createdBy', createdBy)
    decisions.set(id, entry)
  }, origin)
  return id
}

/** Records (or changes) `participantId`'s vote; the decision must be open and know `option`. */
export function vote(doc: Y.Doc, decisionId: string, participantId: string, option: string, origin?: unknown): void {
  const { entry, decision } = openDecision(doc, decisionId, 'votes are only taken')
  requireOption(decision, option)
  const votes = entry.get('votes')
  if (!(votes instanceof Y.Map)) throw new Error(`Decision "${decisionId}" has no votes map; it was not made by propose()`)
  doc.transact(() => votes.set(participantId, option), origin)
}

/** Rejects a decision. Rejecting a rejected one does nothing; an accepted one cannot be. */
export function rejectDecision(doc: Y.Doc, decisionId: string, origin?: unknown): void {
  const { entry, decision } = findDecision(doc, decisionId)
  if (decision.status === 'rejected') return
  if (decision.status === 'accepted') throw new Error(`Decision "${decisionId}" is accepted already; it cannot be rejected`)
  doc.transact(() => entry.set('status', 'rejected'), origin)
}

export interface ReachedDecision {
  decisionId: string
  outcome: string
  /** participantId → option, all votes at the time. */
  votes: Record<string, string>
}

/**
 * Open decisions where the votes for one option reach the quorum. When several options
 * do (concurrent votes), the one with most votes wins, then the earliest listed. Only
 * Y.Map decisions count: a plain JSON one written by a client could not be accepted.
 */
export function findReachedDecisions(doc: Y.Doc): ReachedDecision[] {
  const reached: ReachedDecision[] = []
  for (const [key, value] of getDecisions(doc).entries()) {
    // The server runs this after every applied update: skip closed decisions before reading them whole.
    const decision = value instanceof Y.Map && value.get('status') === 'open' ? readDecision(value, key) : undefined
    const outcome = decision?.status === 'open' ? winningOption(decision) : undefined
    if (decision && outcome !== undefined) reached.push({ decisionId: key, outcome, votes: decision.votes })
  }
  return reached.sort((a, b) => (a.decisionId < b.decisionId ? -1 : a.decisionId > b.decisionId ? 1 : 0))
}

function winningOption({ options, votes, quorum }: Decision): string | undefined {
  const tally = new Map<string, number>()
  for (const option of Object.values(votes)) tally.set(option, (tally.get(option) ?? 0) + 1)
  let best: string | undefined
  for (const option of options) {
    const count = tally.get(option) ?? 0
    if (count >= quorum && (best === undefined || count > tally.get(best)!)) best = option
  }
  return best
}

/** Sets `status: 'accepted'` and `outcome` on an open decision. */
export function acceptDecision(doc: Y.Doc, decisionId: string, outcome: string, origin?: unknown): void {
  const { entry, decision } = openDecision(doc, decisionId, 'only an open decision can be accepted')
  requireOption(decision, outcome)
  doc.transact(() => {
    entry.set('status', 'accepted')
    entry.set('outcome', outcome)
  }, origin)
}

function findDecision(doc: Y.Doc, decisionId: string): { entry: EntryMap; decision: Decision } {
  const entry = getDecisions(doc).get(decisionId)
  if (!(entry instanceof Y.Map)) throw new Error(`Unknown decision "${decisionId}"`)
  const decision = readDecision(entry, decisionId)
  if (decision === undefined) throw new Error(`Decision "${decisionId}" lacks a question, quorum or status; it was not made by propose()`)
  return { entry, decision }
}

function openDecision(doc: Y.Doc, decisionId: string, rule: string): { entry: EntryMap; decision: Decision } {
  const found = findDecision(doc, decisionId)
  if (found.decision.status !== 'open') throw new Error(`Decision "${decisionId}" is ${found.decision.status}: ${rule} while it is open`)
  return found
}

function requireOption(decision: Decision, option: string): void {
  if (!decision.options.includes(option)) {
    throw new Error(`"${option}" is not an option of decision "${decision.id}" (options: ${decision.options.join(', ')})`)
  }
}
