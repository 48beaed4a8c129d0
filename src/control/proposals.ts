/**
 * Proposals (README "Proposals"): a set of document operations kept apart from the live
 * document, reviewed as a diff, then accepted (merged as one `doc.update`) or rejected. The log
 * is the record and the state: `proposal.opened` (its id is the proposal's), `proposal.accepted`
 * and `proposal.rejected` in the session's own stream, folded whenever proposals are read — so
 * they outlive restarts, reach every instance, and replay like any other event.
 *
 * The representation: a proposal is its operations (with the ids of the entries they create
 * fixed when it is opened) and the version it was based on; its branch is those operations
 * applied to a copy of a document — the live one while it is open. Accepting it applies the
 * same operations to the live document through the room's pipeline (documentWrites.ts), as its
 * author (the annotations' `author`, the voter) but attributed to the accepter, in the same
 * append as `proposal.accepted` and only while no one else closed it.
 */
import { randomUUID } from 'node:crypto'
import * as Y from 'yjs'
import type { DocumentWrite, DocumentWriteResult } from '../collab/documentWrites.js'
import { withId } from '../collab/documentWrites.js'
import { MAX_DATA_BYTES } from '../memory/schemas.js'
import { loadDocument } from '../replay/loadDocument.js'
import { findStaleEntries } from '../replay/staleWrites.js'
import { entryOfOp, guardedEntries, type DocOp, type GuardedEntry } from '../session/docOps.js'
import type { StaleEntry } from '../session/history.js'
import { branchOf, proposalDiff, type Proposal, type ProposalStatus } from '../session/proposals.js'
import type { Actor, EventStore, StoredEvent } from '../store/types.js'

export const PROPOSAL_TYPES = ['proposal.opened', 'proposal.accepted', 'proposal.rejected'] as const

/** A proposal as the log tells it (the fold of its events), before its diff is taken. */
export interface ProposalRecord {
  id: string
  title: string
  rationale?: string
  ops: DocOp[]
  basedOn: number
  by: Actor
  version: number
  position: number
  openedAt: string
  status: ProposalStatus
  closedBy?: Actor
  closedAt?: string
  closedVersion?: number
  closedPosition?: number
  /** Recorded by `proposal.accepted`. */
  conflicts?: StaleEntry[]
  /** Whether the accept changed the document (a `doc.update` precedes `proposal.accepted`). */
  changed?: boolean
}

const PAGE = 1000

/** Every proposal of the session, in the order they were opened. */
export async function readProposals(store: Pick<EventStore, 'read'>, session: string): Promise<Map<string, ProposalRecord>> {
  const proposals = new Map<string, ProposalRecord>()
  let after = 0
  for (;;) {
    const page = await store.read(session, { after, types: [...PROPOSAL_TYPES], limit: PAGE })
    for (const event of page) foldProposal(proposals, event)
    if (page.length < PAGE) return proposals
    after = page.at(-1)!.position
  }
}

/**
 * Folds one event into `proposals`. Events that do not have the shape the server writes (an
 * import may bring anything) are left out; a close of an unknown or closed proposal changes nothing.
 */
export function foldProposal(proposals: Map<string, ProposalRecord>, event: StoredEvent): void {
  const { data } = event
  if (event.type === 'proposal.opened') {
    if (typeof data.title !== 'string' || !Array.isArray(data.ops) || !Number.isSafeInteger(data.basedOn)) return
    if (!data.ops.every((op) => typeof op === 'object' && op !== null && typeof (op as { op?: unknown }).op === 'string')) return
    if (proposals.has(event.id)) return
    proposals.set(event.id, {
      id: event.id,
      title: data.title,
      ...(typeof data.rationale === 'string' && { rationale: data.rationale }),
      ops: data.ops as DocOp[],
      basedOn: data.basedOn as number,
      by: event.actor,
      version: event.version,
      position: event.position,
      openedAt: event.recordedAt,
      status: 'open',
    })
    return
  }
  const status = event.type === 'proposal.accepted' ? 'accepted' : event.type === 'proposal.rejected' ? 'rejected' : undefined
  const proposal = typeof data.proposal === 'string' ? proposals.get(data.proposal) : undefined
  if (!status || !proposal || proposal.status !== 'open') return
  Object.assign(proposal, {
    status, closedBy: event.actor, closedAt: event.recordedAt, closedVersion: event.version, closedPosition: event.position,
  })
  if (status === 'accepted') {
    proposal.conflicts = Array.isArray(data.conflicts) ? data.conflicts as StaleEntry[] : []
    proposal.changed = data.changed !== false
  }
}

export async function findProposal(store: Pick<EventStore, 'read'>, session: string, id: string): Promise<ProposalRecord | undefined> {
  return (await readProposals(store, session)).get(id)
}

export interface ProposalDeps {
  store: EventStore
  writeDocument(session: string, write: DocumentWrite): Promise<DocumentWriteResult>
  /** A copy of the session's document now (the caller destroys it). */
  copyDocument(session: string): Promise<Y.Doc>
}

export interface NewProposal {
  actor: Actor
  title: string
  ops: DocOp[]
  rationale?: string
  /** Default: the session's version now. */
  basedOn?: number
}

export type OpenOutcome =
  | { ok: true; id: string; version: number; position: number; ops: DocOp[] }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'ahead'; basedOn: number; version: number }
  | { ok: false; reason: 'invalid'; index: number; message: string }
  | { ok: false; reason: 'too_large'; bytes: number }

/**
 * Records `proposal.opened`, attributed to its author. Its operations must be possible on the
 * live document now (as one write of them would be); the entries they create get their ids.
 */
export async function openProposal({ store, copyDocument }: ProposalDeps, session: string, proposal: NewProposal): Promise<OpenOutcome> {
  const head = await store.head(session)
  if (!head) return { ok: false, reason: 'not_found' }
  const basedOn = proposal.basedOn ?? head.version
  if (basedOn > head.version) return { ok: false, reason: 'ahead', basedOn, version: head.version }
  const ops = proposal.ops.map(withId)
  const doc = await copyDocument(session)
  let refused
  try {
    refused = branchOf(doc, ops, proposal.actor.id, Date.now())[0]
  } finally {
    doc.destroy()
  }
  if (refused) return { ok: false, reason: 'invalid', ...refused }
  const data: Record<string, unknown> = {
    title: proposal.title, ...(proposal.rationale !== undefined && { rationale: proposal.rationale }), ops, basedOn,
  }
  const bytes = Buffer.byteLength(JSON.stringify(data), 'utf8')
  if (bytes > MAX_DATA_BYTES) return { ok: false, reason: 'too_large', bytes }
  const id = randomUUID()
  const result = await store.append(session, [{ id, type: 'proposal.opened', data, actor: proposal.actor }])
  if (!result.ok) throw new Error(`recording proposal.opened failed: ${result.reason}`)
  const event = result.events[0]!
  return { ok: true, id, version: event.version, position: event.position, ops }
}

/** What accepting does when entries it touches were changed by others since its base version. */
export type OnConflict = 'apply' | 'abort'

export type AcceptOutcome =
  | { ok: true; version: number; position: number; update?: Uint8Array; conflicts: StaleEntry[] }
  | { ok: false; reason: 'proposal_not_found' }
  | { ok: false; reason: 'closed'; proposal: ProposalRecord }
  /** `onConflict: 'abort'` and entries changed since its base: nothing stored. */
  | { ok: false; reason: 'conflict'; conflicts: StaleEntry[] }
  | Exclude<DocumentWriteResult, { ok: true } | { reason: 'refused' } | { reason: 'stale' }>

/**
 * Applies the proposal's operations to the live document as one `doc.update` by `actor` (its
 * `meta.causationId` the proposal's id, its rationale the accepter's or else the proposal's),
 * with `proposal.accepted` in the same append — stored only while the proposal is still open.
 */
export async function acceptProposal(
  { store, writeDocument }: ProposalDeps, session: string, proposal: ProposalRecord,
  { actor, onConflict = 'apply', rationale }: { actor: Actor; onConflict?: OnConflict; rationale?: string },
): Promise<AcceptOutcome> {
  const author = proposal.by.id
  const guarded: GuardedEntry[] = proposal.ops.flatMap((op) => {
    const entry = entryOfOp(op)
    return entry ? guardedEntries(entry, author) : []
  })
  let conflicts: StaleEntry[] = []
  const result = await writeDocument(session, {
    actor, by: author, ops: proposal.ops, rationale: rationale ?? proposal.rationale, causationId: proposal.id,
    // Refused as stale (by the write's own guard, in one step with the append) when it may not override.
    basedOn: onConflict === 'abort' ? proposal.basedOn : undefined,
    async condition(through, changed) {
      const now = await findProposal(store, session, proposal.id)
      if (!now || now.status !== 'open') return { ok: false, refusal: now ?? proposal }
      conflicts = await findStaleEntries(store, session, { after: proposal.basedOn, through, guarded, writer: author })
      const meta = { causationId: proposal.id, ...(rationale !== undefined && { rationale }) }
      return { ok: true, with: [{ type: 'proposal.accepted', data: { proposal: proposal.id, conflicts, changed }, actor, meta }] }
    },
  })
  if (result.ok) {
    const accepted = result.with?.[0]
    const at = result.update ? result : accepted ?? result
    return { ok: true, version: at.version, position: at.position, ...(result.update && { update: result.update }), conflicts }
  }
  if (result.reason === 'refused') return { ok: false, reason: 'closed', proposal: result.refusal as ProposalRecord }
  if (result.reason === 'stale') return { ok: false, reason: 'conflict', conflicts: result.stale }
  return result
}

export type RejectOutcome =
  | { ok: true; version: number; position: number }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'proposal_not_found' }
  | { ok: false; reason: 'closed'; proposal: ProposalRecord }
  | { ok: false; reason: 'busy' }

const MAX_ATTEMPTS = 10

/** Records `proposal.rejected` by `actor`, appended only while the proposal is open. */
export async function rejectProposal(
  store: EventStore, session: string, id: string, { actor, rationale }: { actor: Actor; rationale?: string },
): Promise<RejectOutcome> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const head = await store.head(session)
    if (!head) return { ok: false, reason: 'not_found' }
    const proposal = await findProposal(store, session, id)
    if (!proposal) return { ok: false, reason: 'proposal_not_found' }
    if (proposal.status !== 'open') return { ok: false, reason: 'closed', proposal }
    const meta = { causationId: id, ...(rationale !== undefined && { rationale }) }
    const result = await store.append(session, [{ type: 'proposal.rejected', data: { proposal: id }, actor, meta }], { expectedVersion: head.version })
    if (result.ok) return { ok: true, version: result.events[0]!.version, position: result.events[0]!.position }
    if (result.reason !== 'version_conflict') throw new Error(`recording proposal.rejected failed: ${result.message}`)
  }
  return { ok: false, reason: 'busy' }
}

/**
 * The proposals as `GET …/proposals` answers them: each with its diff and conflicts. Open ones
 * against one copy of the live document; closed ones against the document as it was just
 * before they closed (loaded from the log, one load each).
 */
export async function viewProposals({ store, copyDocument }: ProposalDeps, session: string, records: ProposalRecord[]): Promise<Proposal[]> {
  const open = records.filter((p) => p.status === 'open')
  let live: Uint8Array | undefined
  let through = 0
  if (open.length > 0) {
    through = (await store.head(session))?.version ?? 0
    const doc = await copyDocument(session)
    live = Y.encodeStateAsUpdate(doc)
    doc.destroy()
  }
  const views: Proposal[] = []
  for (const record of records) {
    let doc: Y.Doc
    let conflicts: StaleEntry[]
    if (record.status === 'open') {
      doc = new Y.Doc()
      Y.applyUpdate(doc, live!)
      const guarded = record.ops.flatMap((op) => {
        const entry = entryOfOp(op)
        return entry ? guardedEntries(entry, record.by.id) : []
      })
      conflicts = await findStaleEntries(store, session, { after: record.basedOn, through, guarded, writer: record.by.id })
    } else {
      doc = (await loadDocument(store, session, { at: await positionBeforeClose(store, session, record) })).doc
      conflicts = record.conflicts ?? []
    }
    try {
      const { diff, inapplicable } = proposalDiff(doc, record.ops, record.by.id, Date.parse(record.openedAt))
      views.push(toView(record, { diff, inapplicable, conflicts }))
    } finally {
      doc.destroy()
    }
  }
  return views
}

/** The last position before the proposal closed: before its accepting `doc.update`, or before `proposal.rejected`. */
async function positionBeforeClose(store: EventStore, session: string, record: ProposalRecord): Promise<number> {
  const closed = record.closedPosition! - 1
  if (record.status !== 'accepted' || !record.changed) return closed
  const [update] = await store.readVersions(session, { after: record.closedVersion! - 2, through: record.closedVersion! - 1 })
  return update?.type === 'doc.update' && update.meta.causationId === record.id ? update.position - 1 : closed
}

function toView(record: ProposalRecord, computed: Pick<Proposal, 'diff' | 'inapplicable' | 'conflicts'>): Proposal {
  return {
    id: record.id,
    title: record.title,
    status: record.status,
    by: record.by,
    ...(record.rationale !== undefined && { rationale: record.rationale }),
    basedOn: record.basedOn,
    version: record.version,
    position: record.position,
    openedAt: record.openedAt,
    ops: record.ops,
    ...(record.closedBy && {
      closedBy: record.closedBy, closedAt: record.closedAt, closedVersion: record.closedVersion, closedPosition: record.closedPosition,
    }),
    conflicts: computed.conflicts,
    diff: computed.diff,
    inapplicable: computed.inapplicable,
  }
}
