/**
 * The document routes of "Agents under control": writes over HTTP (`POST …/doc`, one
 * `doc.update` for a list of operations, guarded by `basedOn`), blame (who made and last
 * changed every entry) and activity (changes grouped by actor and run).
 */
import { Hono } from 'hono'
import type * as Y from 'yjs'
import { z } from 'zod'
import { assertMayAppend, assertMayWriteOps } from '../../auth/capabilities.js'
import { chargeBudget } from '../middleware/agentControl.js'
import { toActor } from '../../auth/identity.js'
import type { DocumentWrite, DocumentWriteResult } from '../../collab/documentWrites.js'
import { storableString, stringProblem } from '../../memory/issues.js'
import { readActivity } from '../../replay/activity.js'
import { blameDocument } from '../../replay/blame.js'
import type { StaleEntry } from '../../replay/staleWrites.js'
import type { EventStore } from '../../store/types.js'
import { badRequest, HttpError, sessionNotFound } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { existingSession, positionParam, sessionParam, timeParam } from '../params.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse, query } from '../describe.js'
import { proposeStaleWrite } from './proposalWrites.js'

const id = (what: string) => storableString().min(1).max(256).describe(what)

/** One document operation of a write (or a proposal, proposals.ts). */
export const DocOpInput = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('select'), memoryId: id('the memory to select') }),
  z.strictObject({ op: z.literal('deselect'), memoryId: id('the memory to deselect') }),
  z.strictObject({ op: z.literal('explore'), memoryId: id('the memory explored next'), note: storableString().max(2000).optional() }),
  z.strictObject({
    op: z.literal('annotate'), target: id('the memory annotated'), text: storableString().min(1).max(10_000),
    id: id('the new annotation id; default a random uuid').optional(),
  }),
  z.strictObject({ op: z.literal('resolve'), annotationId: id('the annotation') }),
  z.strictObject({
    op: z.literal('propose'), question: storableString().min(1).max(2000),
    options: z.array(storableString().min(1).max(256)).min(1).max(32), quorum: z.int().min(1).max(1000),
    id: id('the new decision id; default a random uuid').optional(),
  }),
  z.strictObject({ op: z.literal('vote'), decisionId: id('the decision'), option: storableString().min(1).max(256) }),
  z.strictObject({ op: z.literal('reject'), decisionId: id('the decision') }),
])

/** Operations per write: one update, one event. */
export const MAX_OPS = 100

const DocBody = z.strictObject({
  ops: z.array(DocOpInput).min(1).max(MAX_OPS),
  basedOn: z.int().min(0).optional().describe('the session version the writer last read: refused with 409 `stale_write` if an entry it writes was changed by someone else since'),
  rationale: storableString().max(2000).optional(),
  onConflict: z.literal('propose').optional().describe('`propose`: a write that would be refused as stale opens a proposal instead (202)'),
  title: storableString().min(1).max(200).optional().describe('with `onConflict`: the title of the proposal (default "Stale write: <ops>")'),
}).refine((body) => body.title === undefined || body.onConflict !== undefined, { path: ['title'], message: 'only with onConflict: "propose"' })

const ActorOut = z.object({
  id: z.string(), name: z.string(), kind: z.enum(['human', 'agent', 'server']),
  model: z.string().optional(), onBehalfOf: z.string().optional(), run: z.string().optional(),
})
const Path = z.enum(['selections', 'explorationPath', 'annotations', 'decisions'])
const Op = z.enum(['add', 'update', 'delete'])

const ProposedAnswer = z.object({
  version: z.int().describe('the `proposal.opened` event\'s'), position: z.int(),
  entries: z.array(z.object({ op: z.string(), path: Path, key: z.string() })),
  update: z.null(),
  proposal: z.object({ id: z.string() }),
  conflicts: z.array(z.unknown()).describe('the stale entries, as a `stale_write`\'s `details`'),
})

const WriteAnswer = z.object({
  version: z.int().describe('the `doc.update` event\'s session version (the head when nothing changed)'),
  position: z.int(),
  entries: z.array(z.object({ op: z.string(), path: Path, key: z.string() })).describe('per operation, the entry it wrote (a new annotation\'s or decision\'s id)'),
  update: z.string().nullable().describe('the Yjs update stored, base64; null when nothing changed'),
})

const BlameAnswer = z.object({
  entries: z.array(z.object({
    path: Path, key: z.string(),
    step: z.string().optional().describe('an exploration step\'s Yjs id'), index: z.int().optional().describe('an exploration step\'s index'),
    vote: z.string().optional().describe('a vote: the voter of decision `key`'),
    createdBy: ActorOut.nullable(), createdAt: z.string().nullable(),
    lastChangedBy: ActorOut.nullable(), lastChangedAt: z.string().nullable(), lastChangedVersion: z.int().nullable(),
    run: z.string().optional(), rationale: z.string().optional(),
    text: z.array(z.object({
      from: z.int(), to: z.int(), by: ActorOut.nullable(), at: z.string().nullable(), version: z.int().nullable(), run: z.string().optional(),
    })).optional().describe('an annotation: its text in runs `[from, to)` (UTF-16 code units) by the update that wrote them; `by: null` where no summarized update carried them'),
  })),
})

const ActivityAnswer = z.object({
  groups: z.array(z.object({
    actor: ActorOut, run: z.string().nullable(), from: z.string(), to: z.string(),
    changes: z.array(z.object({
      path: Path, op: Op, key: z.string(), position: z.int(), version: z.int(),
      step: z.string().optional(), fields: z.array(z.string()).optional(),
      votes: z.array(z.object({ key: z.string(), op: Op })).optional(), rationale: z.string().optional(),
    })),
  })),
  next: z.int().nullable().describe('the `after` of the next page; null at the end'),
})

export interface DocumentRoutesDeps {
  store: EventStore
  writeDocument(session: string, write: DocumentWrite): Promise<DocumentWriteResult>
  /** A copy of the session's document now (the caller destroys it). */
  copyDocument(session: string): Promise<Y.Doc>
}

export function documentRoutes({ store, writeDocument, copyDocument }: DocumentRoutesDeps) {
  const app = new Hono()

  app.post('/api/sessions/:id/doc', describeRoute({
    tags: ['document'],
    summary: 'Write to the session document (editor): operations applied as one `doc.update` attributed to the caller, seen live by every peer; guarded by `basedOn`',
    requestBody: jsonBody(DocBody, 'ops: `select`, `deselect`, `explore`, `annotate`, `resolve`, `propose`, `vote`, `reject` (as the SDK\'s operations); `onConflict: "propose"` turns a stale write into a proposal'),
    responses: {
      201: jsonResponse('`{ version, position, entries, update }`', WriteAnswer),
      202: jsonResponse('with `onConflict: "propose"`, the write was stale: a proposal was opened instead (`proposal.opened`), nothing written to the document', ProposedAnswer),
      200: jsonResponse('the operations changed nothing (deselecting what is not selected, say): nothing stored', WriteAnswer),
      ...errorResponses([400, 404, 409, 413]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    const parsed = DocBody.safeParse(await readJson(c), { reportInput: true })
    if (!parsed.success) throw badRequest(zodMessage(parsed.error))
    await existingSession(store, session)
    const { ops, basedOn, rationale, onConflict, title } = parsed.data
    const identity = c.get('identity')
    assertMayWriteOps(identity, ops)
    if (onConflict) assertMayAppend(identity, 'proposal.opened')
    // One write against the token's budget (bytes: the operations as JSON); given back unless something is stored.
    const refund = chargeBudget(c, { events: 1, bytes: identity.budget ? Buffer.byteLength(JSON.stringify(ops), 'utf8') : 0 })
    let kept = false
    try {
      const result = await writeDocument(session, { actor: toActor(identity), by: identity.id, ops, basedOn, rationale })
      if (!result.ok && result.reason === 'stale' && onConflict === 'propose') {
        const proposed = await proposeStaleWrite({ store, writeDocument, copyDocument }, session, {
          actor: toActor(identity), ops, basedOn: result.basedOn, rationale, title, stale: result.stale,
        })
        if (proposed) {
          kept = true
          return c.json(proposed, 202)
        }
      }
      if (!result.ok) throw writeRefusal(session, result)
      kept = Boolean(result.update)
      const update = result.update ? Buffer.from(result.update).toString('base64') : null
      return c.json({ version: result.version, position: result.position, entries: result.written, update }, result.update ? 201 : 200)
    } finally {
      if (!kept) refund()
    }
  })

  app.get('/api/sessions/:id/blame', describeRoute({
    tags: ['document'],
    summary: 'Who created and who last changed every entry of the document (each selection, step, annotation, decision and vote), when, in which run, why',
    responses: { 200: jsonResponse('`{ entries: [{ path, key, step?, index?, vote?, createdBy, createdAt, lastChangedBy, lastChangedAt, lastChangedVersion, run?, rationale?, text? }] }`', BlameAnswer), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    await existingSession(store, session)
    const doc = await copyDocument(session)
    try {
      return c.json(await blameDocument(store, session, doc))
    } finally {
      doc.destroy()
    }
  })

  app.get('/api/sessions/:id/activity', describeRoute({
    tags: ['document'],
    summary: 'The document changes grouped by actor and run, filtered by actor, run and time: "what did the agent do in the last hour"',
    parameters: [
      query('actor', 'string', 'only this actor\'s changes (its id)'),
      query('run', 'string', 'only this run\'s changes'),
      query('from', 'string', 'recorded at or after (ISO 8601 date-time with its zone)', { format: 'date-time' }),
      query('to', 'string', 'recorded at or before (ISO 8601 date-time with its zone)', { format: 'date-time' }),
      query('after', 'integer', 'only events after this position: the `next` of the page before'),
      query('limit', 'integer', '`doc.update` events read at most (1–10000, default 1000)', { minimum: 1, maximum: 10_000 }),
    ],
    responses: { 200: jsonResponse('`{ groups: [{ actor, run, from, to, changes: [{ path, op, key, position, version, … }] }], next }`', ActivityAnswer), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const from = timeParam(c, 'from')
    const to = timeParam(c, 'to')
    if (from !== undefined && to !== undefined && Date.parse(from) > Date.parse(to)) throw badRequest(`from (${from}) must not be after to (${to})`)
    const limit = positionParam(c, 'limit') ?? 1000
    if (limit < 1 || limit > 10_000) throw badRequest(`limit must be from 1 to 10000 (got ${limit})`)
    await existingSession(store, session)
    return c.json(await readActivity(store, session, {
      actor: textParam(c.req.query('actor'), 'actor'), run: textParam(c.req.query('run'), 'run'),
      from: from === undefined ? undefined : new Date(from), to: to === undefined ? undefined : new Date(to),
      after: positionParam(c, 'after'), limit,
    }))
  })

  return app
}

function textParam(raw: string | undefined, name: string): string | undefined {
  if (raw === undefined || raw === '') return undefined
  if (raw.length > 256) throw badRequest(`${name} must be at most 256 characters`)
  const problem = stringProblem(raw)
  if (problem) throw badRequest(`${name}: ${problem}`)
  return raw
}

function writeRefusal(session: string, result: Exclude<DocumentWriteResult, { ok: true }>): HttpError {
  switch (result.reason) {
    case 'invalid':
      return new HttpError(400, 'invalid_operation', `ops[${result.index}]: ${result.message}`)
    case 'stale':
      return new HttpError(409, 'stale_write',
        `stale write: ${result.stale.map(describeStale).join('; ')}, after version ${result.basedOn} that this write is based on; ` +
        `read the session again (GET /api/sessions/${session}) and retry with its version`, {}, { details: result.stale })
    case 'ahead':
      return badRequest(`basedOn: ${result.basedOn} is after session "${session}"'s version ${result.version}`)
    case 'not_found':
      return sessionNotFound(session)
    case 'too_large':
      return new HttpError(413, 'doc_too_large', `the document would grow past ${result.maxBytes} bytes (MNEMO_MAX_DOC_BYTES); nothing was stored`)
    case 'busy':
      return new HttpError(503, 'busy', `session "${session}" kept changing while this write was checked (${result.attempts} times); try again`, { 'Retry-After': '1' })
    case 'refused': // only writes with a condition (accepting a proposal) are refused so
      return new HttpError(409, 'refused', 'the write was refused')
  }
}

/** `annotations "a1" was changed by Ada (ada) at version 14 (2026-12-03T10:00:00.000Z)` */
export function describeStale({ path, key, vote, by, version, at }: StaleEntry): string {
  const who = by.name && by.name !== by.id ? `${by.name} (${by.id})` : by.id
  const what = vote === undefined ? `${path} ${JSON.stringify(key)}` : `${path} ${JSON.stringify(key)} (the vote of ${JSON.stringify(vote)})`
  return `${what} was changed by ${who} at version ${version} (${at})`
}
