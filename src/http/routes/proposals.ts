/**
 * Proposals over HTTP (README "Proposals"): open one (any editor, agent or human), list and
 * read them with their diff against the live document, accept one (a human editor; merged as
 * one `doc.update` by the accepter) or reject it (a human editor, or its author withdrawing it).
 * `POST …/doc` with `onConflict: "propose"` opens one from a stale write (proposalWrites.ts).
 */
import { Hono, type Context } from 'hono'
import { z } from 'zod'
import { assertMayAppend, describeScope } from '../../auth/capabilities.js'
import { AuthError } from '../../auth/errors.js'
import { toActor, type Identity } from '../../auth/identity.js'
import {
  acceptProposal, findProposal, openProposal, readProposals, rejectProposal, viewProposals,
  type AcceptOutcome, type ProposalDeps, type ProposalRecord,
} from '../../control/proposals.js'
import { storableString } from '../../memory/issues.js'
import { entryOfOp } from '../../session/docOps.js'
import { chargeBudget } from '../middleware/agentControl.js'
import { badRequest, HttpError, sessionNotFound } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { readBodyText } from '../body.js'
import { existingSession, sessionParam } from '../params.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse, query } from '../describe.js'
import { DocOpInput, MAX_OPS } from './document.js'
import { openRefusal, proposalNotFound } from './proposalWrites.js'
import { header } from '../headers.js'

const rationale = storableString().max(2000).optional()

const OpenBody = z.strictObject({
  title: storableString().min(1).max(200).describe('what the proposal does, in a line'),
  ops: z.array(DocOpInput).min(1).max(MAX_OPS).describe('the document operations of `POST …/doc`'),
  rationale: rationale.describe('why'),
  basedOn: z.int().min(0).optional().describe('the session version its author read; default the version now. Entries others changed after it are the conflicts'),
})

const AcceptBody = z.strictObject({
  onConflict: z.enum(['apply', 'abort']).optional()
    .describe('`apply` (default): merged anyway, the conflicts reported; `abort`: refused (409 `proposal_conflict`) when there are any, nothing stored'),
  rationale: rationale.describe('the accepter\'s reason: the `doc.update`\'s `meta.rationale` (default the proposal\'s)'),
})

const RejectBody = z.strictObject({ rationale: rationale.describe('why it is rejected: `proposal.rejected`\'s `meta.rationale`') })

const Path = z.enum(['selections', 'explorationPath', 'annotations', 'decisions'])
const ActorOut = z.object({
  id: z.string(), name: z.string(), kind: z.enum(['human', 'agent', 'server']),
  model: z.string().optional(), onBehalfOf: z.string().optional(), run: z.string().optional(),
})
const Conflict = z.object({
  path: Path, key: z.string(), vote: z.string().optional(), by: ActorOut, version: z.int(), position: z.int(), at: z.string(),
})
const ProposalOut = z.object({
  id: z.string().describe('the `proposal.opened` event\'s id'),
  title: z.string(),
  status: z.enum(['open', 'accepted', 'rejected']),
  by: ActorOut.describe('its author: the operations write as this participant'),
  rationale: z.string().optional(),
  basedOn: z.int(),
  version: z.int(), position: z.int(), openedAt: z.string(),
  ops: z.array(z.object({ op: z.string() }).loose()),
  closedBy: ActorOut.optional(), closedAt: z.string().optional(), closedVersion: z.int().optional(), closedPosition: z.int().optional(),
  conflicts: z.array(Conflict).describe('entries it touches that others changed after `basedOn` (as of now while open; as recorded once accepted)'),
  diff: z.array(z.object({
    path: Path, key: z.string(), change: z.enum(['added', 'changed', 'removed']), index: z.int().optional(),
    before: z.unknown().optional(), after: z.unknown().optional(),
    text: z.array(z.record(z.enum(['equal', 'insert', 'delete']), z.string())).optional().describe('an annotation\'s text, as a word diff'),
  })).describe('against the live document while open; against the document just before it closed otherwise'),
  inapplicable: z.array(z.object({ index: z.int(), message: z.string() })).describe('operations that cannot be done on that document'),
})
const Opened = z.object({ id: z.string(), version: z.int(), position: z.int(), ops: z.array(z.object({ op: z.string() }).loose()) })
const Accepted = z.object({
  id: z.string(), status: z.literal('accepted'),
  version: z.int().describe('the `doc.update`\'s (the `proposal.accepted` event\'s when nothing changed)'), position: z.int(),
  update: z.string().nullable().describe('the Yjs update stored, base64'),
  conflicts: z.array(Conflict),
})
const Rejected = z.object({ id: z.string(), status: z.literal('rejected'), version: z.int(), position: z.int() })

export function proposalRoutes(deps: ProposalDeps) {
  const { store } = deps
  const app = new Hono()

  app.post('/api/sessions/:id/proposals', describeRoute({
    tags: ['proposals'],
    summary: 'Open a proposal (editor, agent or human): document operations kept apart from the live document until a human accepts them; recorded as `proposal.opened`',
    requestBody: jsonBody(OpenBody, '`{ title, ops, rationale?, basedOn? }`; the operations must be possible on the live document now'),
    responses: {
      201: jsonResponse('`{ id, version, position, ops }`: the operations with the ids of the entries they create', Opened),
      ...errorResponses([400, 404, 413]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    const parsed = OpenBody.safeParse(await readJson(c), { reportInput: true })
    if (!parsed.success) throw badRequest(zodMessage(parsed.error))
    await existingSession(store, session)
    const identity = c.get('identity')
    assertMayAppend(identity, 'proposal.opened')
    const refund = chargeBudget(c, { events: 1, bytes: identity.budget ? Buffer.byteLength(JSON.stringify(parsed.data), 'utf8') : 0 })
    const { title, ops, rationale, basedOn } = parsed.data
    const opened = await openProposal(deps, session, { actor: toActor(identity), title, ops, rationale, basedOn })
    if (!opened.ok) {
      refund()
      throw openRefusal(session, opened)
    }
    return c.json({ id: opened.id, version: opened.version, position: opened.position, ops: opened.ops }, 201)
  })

  app.get('/api/sessions/:id/proposals', describeRoute({
    tags: ['proposals'],
    summary: 'The session\'s proposals, oldest first, each with its diff against the live document (while open) and its conflicts',
    parameters: [query('status', 'string', 'only proposals in this status: `open`, `accepted` or `rejected`', { enum: ['open', 'accepted', 'rejected'] })],
    responses: { 200: jsonResponse('`{ proposals: [{ id, title, status, by, rationale?, basedOn, diff, conflicts, … }] }`', z.object({ proposals: z.array(ProposalOut) })), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const status = c.req.query('status')
    if (status !== undefined && status !== '' && !['open', 'accepted', 'rejected'].includes(status)) {
      throw badRequest(`status must be open, accepted or rejected (got "${status.slice(0, 64)}")`)
    }
    await existingSession(store, session)
    const records = [...(await readProposals(store, session)).values()].filter((p) => !status || p.status === status)
    return c.json({ proposals: await viewProposals(deps, session, records) })
  })

  app.get('/api/sessions/:id/proposals/:pid', describeRoute({
    tags: ['proposals'],
    summary: 'One proposal with its diff against the live document entry by entry (added, changed, removed; a word diff for annotation text) and its conflicts',
    responses: { 200: jsonResponse('`{ id, title, status, by, rationale?, basedOn, diff: [{ path, key, change, before?, after?, text? }], conflicts, inapplicable, … }`', ProposalOut), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const record = await proposalOf(c, session)
    return c.json((await viewProposals(deps, session, [record]))[0])
  })

  app.post('/api/sessions/:id/proposals/:pid/accept', describeRoute({
    tags: ['proposals'],
    summary: 'Accept an open proposal (a human editor; agents may not): its operations merged into the live document as one `doc.update` by the caller, '
      + '`meta.causationId` = the proposal, with `proposal.accepted`; entries others changed since its base version are reported as `conflicts`',
    requestBody: { ...jsonBody(AcceptBody, '`{ onConflict?: "apply" | "abort", rationale? }`; the body may be left out'), required: false },
    responses: {
      201: jsonResponse('`{ id, status: "accepted", version, position, update, conflicts }`', Accepted),
      ...errorResponses([400, 404, 409, 413]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    const body = await optionalBody(c, AcceptBody)
    const record = await proposalOf(c, session)
    const identity = c.get('identity')
    if (identity.kind !== 'human') {
      throw new AuthError('forbidden', `Forbidden: only a human may accept a proposal, and ${JSON.stringify(identity.id)} is an agent; it may open and withdraw proposals`)
    }
    assertMayAppend(identity, 'proposal.accepted')
    assertScopeCovers(identity, record)
    if (record.status !== 'open') throw closedProposal(record)
    const refund = chargeBudget(c, { events: 2, bytes: 0 })
    const outcome = await acceptProposal(deps, session, record, { actor: toActor(identity), onConflict: body.onConflict, rationale: body.rationale })
    if (!outcome.ok) {
      refund()
      throw acceptRefusal(session, record, outcome)
    }
    const update = outcome.update ? Buffer.from(outcome.update).toString('base64') : null
    return c.json({ id: record.id, status: 'accepted', version: outcome.version, position: outcome.position, update, conflicts: outcome.conflicts }, 201)
  })

  app.post('/api/sessions/:id/proposals/:pid/reject', describeRoute({
    tags: ['proposals'],
    summary: 'Reject an open proposal (a human editor, or its author withdrawing it): nothing of it reaches the document; recorded as `proposal.rejected`',
    requestBody: { ...jsonBody(RejectBody, '`{ rationale? }`; the body may be left out'), required: false },
    responses: { 201: jsonResponse('`{ id, status: "rejected", version, position }`', Rejected), ...errorResponses([400, 404, 409]) },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    const body = await optionalBody(c, RejectBody)
    const record = await proposalOf(c, session)
    const identity = c.get('identity')
    if (identity.kind !== 'human' && identity.id !== record.by.id) {
      throw new AuthError('forbidden', `Forbidden: only a human, or the proposal's author (${JSON.stringify(record.by.id)}), may reject it`)
    }
    assertMayAppend(identity, 'proposal.rejected')
    if (record.status !== 'open') throw closedProposal(record)
    const refund = chargeBudget(c, { events: 1, bytes: 0 })
    const outcome = await rejectProposal(store, session, record.id, { actor: toActor(identity), rationale: body.rationale })
    if (!outcome.ok) refund()
    if (outcome.ok) return c.json({ id: record.id, status: 'rejected', version: outcome.version, position: outcome.position }, 201)
    switch (outcome.reason) {
      case 'not_found': throw sessionNotFound(session)
      case 'proposal_not_found': throw proposalNotFound(session, record.id)
      case 'closed': throw closedProposal(outcome.proposal)
      case 'busy': throw new HttpError(503, 'busy', `session "${session}" kept changing while the rejection was recorded; try again`, { 'Retry-After': '1' })
    }
  })

  /** The `:pid` of a session that exists; 404 `proposal_not_found` when it has no such proposal. */
  async function proposalOf(c: Context, session: string): Promise<ProposalRecord> {
    await existingSession(store, session)
    const id = c.req.param('pid') ?? ''
    const record = id.length <= 256 ? await findProposal(store, session, id) : undefined
    if (!record) throw proposalNotFound(session, id)
    return record
  }

  return app
}

/** A scoped accepter writes the proposal's entries itself: its `can` must cover each. */
function assertScopeCovers(identity: Identity, record: ProposalRecord): void {
  const scope = identity.scope
  if (!scope) return
  for (const op of record.ops) {
    const entry = entryOfOp(op)
    if (!entry) continue
    // A vote is its author's: `decisions:vote` covers it only when the accepter is the author.
    const ownVote = op.op === 'vote' && scope.vote && record.by.id === identity.id
    if (scope.writes.has(entry.path) || ownVote) continue
    throw new AuthError('out_of_scope',
      `Forbidden: accepting this proposal writes ${entry.path} (${op.op} ${JSON.stringify(entry.key)}), which this token's \`can\` (${describeScope(scope)}) does not cover`)
  }
}

async function optionalBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const raw = header(c, 'content-type') === undefined && (await readBodyText(c)).trim() === '' ? {} : await readJson(c)
  const parsed = schema.safeParse(raw, { reportInput: true })
  if (!parsed.success) throw badRequest(zodMessage(parsed.error))
  return parsed.data
}

const closedProposal = (record: ProposalRecord) =>
  new HttpError(409, 'proposal_closed', `proposal ${JSON.stringify(record.id)} is ${record.status} already (by ${record.closedBy?.id ?? 'someone'} at ${record.closedAt ?? '?'}); only an open proposal can be accepted or rejected`,
    {}, { status: record.status })

function acceptRefusal(session: string, record: ProposalRecord, outcome: Exclude<AcceptOutcome, { ok: true }>): HttpError {
  switch (outcome.reason) {
    case 'proposal_not_found': return proposalNotFound(session, record.id)
    case 'closed': return closedProposal(outcome.proposal)
    case 'conflict':
      return new HttpError(409, 'proposal_conflict',
        `proposal ${JSON.stringify(record.id)} touches entries others changed after version ${record.basedOn} it is based on; nothing was stored `
        + '(accept it without onConflict: "abort" to merge it anyway)', {}, { details: outcome.conflicts })
    case 'invalid':
      return new HttpError(409, 'proposal_not_applicable', `proposal ${JSON.stringify(record.id)} cannot be applied to the live document: ops[${outcome.index}]: ${outcome.message}; reject it, or open another`)
    case 'not_found': return sessionNotFound(session)
    case 'ahead': return badRequest(`basedOn: ${outcome.basedOn} is after session "${session}"'s version ${outcome.version}`)
    case 'too_large': return new HttpError(413, 'doc_too_large', `the document would grow past ${outcome.maxBytes} bytes (MNEMO_MAX_DOC_BYTES); nothing was stored`)
    case 'busy': return new HttpError(503, 'busy', `session "${session}" kept changing while the accept was checked (${outcome.attempts} times); try again`, { 'Retry-After': '1' })
  }
}
