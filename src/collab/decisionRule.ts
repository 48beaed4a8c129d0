/**
 * The decision rule of the SPEC, as the server's part in it: the update that accepts a
 * reached decision, computed on a scratch copy so the room never shows anything unpersisted,
 * and the `decision.reached` event whose id is derived from session and decision, so that
 * every instance that sees the quorum records it under the same id — once.
 */
import { createHash } from 'node:crypto'
import * as Y from 'yjs'
import { acceptDecision, type ReachedDecision } from '../session/decisions.js'
import type { NewEvent } from '../store/types.js'
import { SERVER_ACTOR } from '../vocabulary.js'

/**
 * The Yjs update that sets `status: 'accepted'` and `outcome` on `reached`, made on a copy
 * of `doc`; undefined when the decision cannot be accepted (any more).
 */
export function acceptanceUpdate(doc: Y.Doc, reached: ReachedDecision): Uint8Array | undefined {
  const scratch = new Y.Doc()
  try {
    Y.applyUpdate(scratch, Y.encodeStateAsUpdate(doc))
    let update: Uint8Array | undefined
    scratch.on('update', (u: Uint8Array) => {
      update = update ? Y.mergeUpdates([update, u]) : u
    })
    acceptDecision(scratch, reached.decisionId, reached.outcome)
    return update
  } catch {
    return undefined
  } finally {
    scratch.destroy()
  }
}

/** The `decision.reached` event recorded with the acceptance, in the same append. */
export function decisionReachedEvent(session: string, reached: ReachedDecision): NewEvent {
  return {
    id: decisionEventId(session, reached.decisionId),
    type: 'decision.reached',
    data: { decisionId: reached.decisionId, outcome: reached.outcome, votes: reached.votes },
    actor: SERVER_ACTOR,
  }
}

/**
 * A name-based UUID (version 5 layout, over SHA-256 rather than SHA-1) of the session and
 * decision: the same on every instance, distinct across sessions.
 */
export function decisionEventId(session: string, decisionId: string): string {
  const hash = createHash('sha256').update(`mnemo decision.reached\u0000${session}\u0000${decisionId}`).digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
