/**
 * The SDK's edits of the session document, over the session helpers (src/session) with this
 * agent as `by`/`author`/`createdBy`/voter. Each is one Yjs transaction that the provider
 * sends (or keeps until it is back online); the server records it as a `doc.update`
 * attributed to the connection's identity.
 *
 * A `doc.update`'s meta comes from the server, not the client, so a rationale cannot ride
 * along. Instead an edit with a rationale is followed by an `agent.rationale` event over HTTP
 * whose `meta.rationale` says why and whose data points at the edit: the `action`, the
 * entry (`path`, `key`, as in the `doc.update`'s `changes`) and the Yjs `client`/`clock`
 * where the edit's items start (equal to the clock in the update's structs).
 */
import * as Y from 'yjs'
import { propose, rejectDecision, vote } from '../session/decisions.js'
import type { RootName } from '../session/schema.js'
import { annotate, deselect, explore, resolveAnnotation, select } from '../session/write.js'
import { invalidOperation } from './errors.js'
import type { EventRef, WriteOptions } from './types.js'

export interface DocOpsContext {
  doc: Y.Doc
  /** This participant's id: the `by` of its selections and steps, its votes' key. */
  participantId: string
  /** The transaction origin of this SDK's own edits. */
  origin: object
  /** Throws when this connection may not edit (a viewer, or refused by the server). */
  assertWritable(): void
  appendEvent(type: string, data: Record<string, unknown>, options?: WriteOptions): Promise<EventRef>
}

export interface NewProposal {
  question: string
  options: string[]
  /** Votes for one option that accept it. */
  quorum: number
  /** Default: a random uuid. */
  id?: string
}

export interface DocOps {
  select(memoryId: string, options?: WriteOptions): Promise<void>
  deselect(memoryId: string, options?: WriteOptions): Promise<void>
  explore(memoryId: string, note?: string, options?: WriteOptions): Promise<void>
  annotate(target: string, text: string, options?: WriteOptions): Promise<string>
  resolve(annotationId: string, options?: WriteOptions): Promise<void>
  propose(proposal: NewProposal, options?: WriteOptions): Promise<string>
  vote(decisionId: string, option: string, options?: WriteOptions): Promise<void>
  reject(decisionId: string, options?: WriteOptions): Promise<void>
}

export function createDocOps(ctx: DocOpsContext): DocOps {
  const { doc, participantId: me, origin } = ctx

  /** Runs one edit; then, when a rationale was given, records it. */
  async function edit<T>(action: string, path: RootName, key: (result: T) => string, run: () => T, options?: WriteOptions): Promise<T> {
    ctx.assertWritable()
    const clock = Y.getState(doc.store, doc.clientID)
    let result: T
    try {
      result = run()
    } catch (error) {
      throw invalidOperation(error)
    }
    if (options?.rationale !== undefined) {
      const data = { action, path, key: key(result), client: doc.clientID, clock }
      await ctx.appendEvent('agent.rationale', data, { rationale: options.rationale })
    }
    return result
  }

  return {
    select: (memoryId, options) =>
      edit('select', 'selections', () => memoryId, () => select(doc, memoryId, me, Date.now(), origin), options),
    deselect: (memoryId, options) =>
      edit('deselect', 'selections', () => memoryId, () => deselect(doc, memoryId, origin), options),
    explore: (memoryId, note, options) =>
      edit('explore', 'explorationPath', () => memoryId, () => explore(doc, { memoryId, by: me, note }, origin), options),
    annotate: (target, text, options) =>
      edit('annotate', 'annotations', (id) => id, () => annotate(doc, { target, author: me, text }, origin), options),
    resolve: (annotationId, options) =>
      edit('resolve', 'annotations', () => annotationId, () => resolveAnnotation(doc, annotationId, origin), options),
    propose: ({ question, options: choices, quorum, id }, options) =>
      edit('propose', 'decisions', (decisionId) => decisionId,
        () => propose(doc, { question, options: choices, quorum, createdBy: me, id }, origin), options),
    vote: (decisionId, option, options) =>
      edit('vote', 'decisions', () => decisionId, () => vote(doc, decisionId, me, option, origin), options),
    reject: (decisionId, options) =>
      edit('reject', 'decisions', () => decisionId, () => rejectDecision(doc, decisionId, origin), options),
  }
}
