/**
 * The SDK's edits of the session document, over the session helpers (src/session) with this
 * agent as `by`/`author`/`createdBy`/voter. Each is one Yjs transaction that the provider
 * sends (or keeps until it is back online); the server records it as a `doc.update`
 * attributed to the connection's identity.
 *
 * An edit that names `basedOn` (the session version the agent last read) goes over HTTP
 * instead (`POST …/doc`), because only the server can judge it: it is refused (MnemoError 409
 * `stale_write`) when someone else changed the entry since, and otherwise stored with the
 * rationale in its own `meta`. It needs the server, so it does not wait out an outage.
 *
 * A `doc.update`'s meta comes from the server, not the client, so a rationale cannot ride
 * along. Instead an edit with a rationale is followed by an `agent.rationale` event over HTTP
 * whose `meta.rationale` says why and whose data points at the edit: the `action`, the
 * entry (`path`, `key`, as in the `doc.update`'s `changes`) and the Yjs `client`/`clock`
 * where the edit's items start (equal to the clock in the update's structs).
 */
import * as Y from 'yjs'
import { randomUUID } from 'node:crypto'
import { propose, rejectDecision, vote } from '../session/decisions.js'
import type { DocOp } from '../session/docOps.js'
import type { RootName } from '../session/schema.js'
import { annotate, deselect, explore, resolveAnnotation, select } from '../session/write.js'
import { invalidOperation } from './errors.js'
import type { DocWriteOptions, EventRef, WriteOptions } from './types.js'

export interface DocOpsContext {
  doc: Y.Doc
  /** This participant's id: the `by` of its selections and steps, its votes' key. */
  participantId: string
  /** The transaction origin of this SDK's own edits. */
  origin: object
  /** Throws when this connection may not edit (a viewer, or refused by the server). */
  assertWritable(): void
  appendEvent(type: string, data: Record<string, unknown>, options?: WriteOptions): Promise<EventRef>
  /** One operation over HTTP (`POST …/doc`), its update then applied here; resolves with the entry's key. */
  writeRemote(op: DocOp, options: DocWriteOptions): Promise<string>
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
  select(memoryId: string, options?: DocWriteOptions): Promise<void>
  deselect(memoryId: string, options?: DocWriteOptions): Promise<void>
  explore(memoryId: string, note?: string, options?: DocWriteOptions): Promise<void>
  annotate(target: string, text: string, options?: DocWriteOptions): Promise<string>
  resolve(annotationId: string, options?: DocWriteOptions): Promise<void>
  propose(proposal: NewProposal, options?: DocWriteOptions): Promise<string>
  vote(decisionId: string, option: string, options?: DocWriteOptions): Promise<void>
  reject(decisionId: string, options?: DocWriteOptions): Promise<void>
}

export function createDocOps(ctx: DocOpsContext): DocOps {
  const { doc, participantId: me, origin } = ctx

  /** Runs one edit (over HTTP when it names `basedOn`); then, when a rationale was given, records it. */
  async function edit<T>(
    action: string, path: RootName, key: (result: T) => string, run: () => T, options: DocWriteOptions | undefined,
    remote: () => DocOp,
  ): Promise<T> {
    ctx.assertWritable()
    if (options?.basedOn !== undefined) {
      const written = await ctx.writeRemote(remote(), options)
      // annotate and propose answer the new entry's id; the others nothing.
      return (action === 'annotate' || action === 'propose' ? written : undefined) as T
    }
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
      edit('select', 'selections', () => memoryId, () => select(doc, memoryId, me, Date.now(), origin), options,
        () => ({ op: 'select', memoryId })),
    deselect: (memoryId, options) =>
      edit('deselect', 'selections', () => memoryId, () => deselect(doc, memoryId, origin), options,
        () => ({ op: 'deselect', memoryId })),
    explore: (memoryId, note, options) =>
      edit('explore', 'explorationPath', () => memoryId, () => explore(doc, { memoryId, by: me, note }, origin), options,
        () => (note === undefined ? { op: 'explore', memoryId } : { op: 'explore', memoryId, note })),
    annotate: (target, text, options) =>
      edit('annotate', 'annotations', (id) => id, () => annotate(doc, { target, author: me, text }, origin), options,
        () => ({ op: 'annotate', target, text, id: randomUUID() })),
    resolve: (annotationId, options) =>
      edit('resolve', 'annotations', () => annotationId, () => resolveAnnotation(doc, annotationId, origin), options,
        () => ({ op: 'resolve', annotationId })),
    propose: ({ question, options: choices, quorum, id }, options) =>
      edit('propose', 'decisions', (decisionId) => decisionId,
        () => propose(doc, { question, options: choices, quorum, createdBy: me, id }, origin), options,
        () => ({ op: 'propose', question, options: choices, quorum, id: id ?? randomUUID() })),
    vote: (decisionId, option, options) =>
      edit('vote', 'decisions', () => decisionId, () => vote(doc, decisionId, me, option, origin), options,
        () => ({ op: 'vote', decisionId, option })),
    reject: (decisionId, options) =>
      edit('reject', 'decisions', () => decisionId, () => rejectDecision(doc, decisionId, origin), options,
        () => ({ op: 'reject', decisionId })),
  }
}
