/**
 * What `POST …/doc` (document.ts) and the proposal routes (proposals.ts) share: a stale write
 * opened as a proposal (`onConflict: "propose"`), and the errors of opening one. Apart from
 * both so that neither imports the other.
 */
import type { Actor } from '../../vocabulary.js'
import { openProposal, type OpenOutcome, type ProposalDeps } from '../../control/proposals.js'
import { MAX_DATA_BYTES } from '../../memory/schemas.js'
import { entryOfOp, type DocOp, type WrittenEntry } from '../../session/docOps.js'
import type { StaleEntry } from '../../session/history.js'
import { badRequest, HttpError, sessionNotFound } from '../errors.js'

/** `POST …/doc`'s 202 answer when a stale write became a proposal. */
export interface ProposedWrite {
  /** Where `proposal.opened` landed. */
  version: number
  position: number
  /** The entries its operations would write (a new annotation's or decision's id). */
  entries: WrittenEntry[]
  update: null
  proposal: { id: string }
  /** The stale entries: what others changed after `basedOn`. */
  conflicts: StaleEntry[]
}

/**
 * `POST …/doc` with `onConflict: "propose"`, refused as stale: the write opened as a proposal
 * instead, by its writer, based on its `basedOn`, with its rationale; the stale entries are its
 * conflicts. Undefined when its operations cannot be done on the live document any more (a
 * decision since closed, say): the write then stays refused as stale.
 */
export async function proposeStaleWrite(
  deps: ProposalDeps, session: string,
  write: { actor: Actor; ops: DocOp[]; basedOn: number; rationale?: string; title?: string; stale: StaleEntry[] },
): Promise<ProposedWrite | undefined> {
  const title = write.title ?? `Stale write: ${write.ops.map((op) => op.op).join(', ')}`.slice(0, 200)
  const opened = await openProposal(deps, session, { actor: write.actor, title, ops: write.ops, rationale: write.rationale, basedOn: write.basedOn })
  if (!opened.ok) {
    if (opened.reason === 'invalid') return undefined
    throw openRefusal(session, opened)
  }
  const entries = opened.ops.flatMap((op) => entryOfOp(op) ?? [])
  return { version: opened.version, position: opened.position, entries, update: null, proposal: { id: opened.id }, conflicts: write.stale }
}

export function openRefusal(session: string, outcome: Exclude<OpenOutcome, { ok: true }>): HttpError {
  switch (outcome.reason) {
    case 'not_found': return sessionNotFound(session)
    case 'ahead': return badRequest(`basedOn: ${outcome.basedOn} is after session "${session}"'s version ${outcome.version}`)
    case 'invalid': return new HttpError(400, 'invalid_operation', `ops[${outcome.index}]: ${outcome.message}`)
    case 'too_large': return new HttpError(413, 'event_data_too_large', `the proposal is ${outcome.bytes} bytes as UTF-8 JSON; the limit is ${MAX_DATA_BYTES}`)
  }
}

export const proposalNotFound = (session: string, id: string) =>
  new HttpError(404, 'proposal_not_found', `session "${session}" has no proposal ${JSON.stringify(id.slice(0, 256))} (GET /api/sessions/${session}/proposals lists them)`)
