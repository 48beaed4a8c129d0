/**
 * Undo one run (SPEC "Agents under control"): `POST …/runs/:run/revert` takes back every
 * document change the run made, keeping everyone else's later edits, as one `doc.update` by
 * the caller (`meta.causationId` = the `run.reverted` event stored with it), and retracts the
 * run's memory events. Computed from the log (replay/revertRun.ts) and stored only while the
 * session is still where it was read; when it moved on meanwhile, computed again.
 *
 * Who may: an editor or admin whose token has no `can` claim; a human any run, an agent only
 * a run of its own (the run's first change is by the agent's id).
 */
import { randomUUID } from 'node:crypto'
import { Hono, type Context } from 'hono'
import { z } from 'zod'
import { assertUnscoped } from '../../auth/capabilities.js'
import { AuthError } from '../../auth/errors.js'
import { labelProblem, toActor } from '../../auth/identity.js'
import { hasRole } from '../../auth/roles.js'
import type { ComputedUpdate, StoreUpdateResult } from '../../collab/storeUpdate.js'
import { storableString } from '../../memory/issues.js'
import { RUN_REVERTED } from '../../memory/retractions.js'
import { planRevert } from '../../replay/revertRun.js'
import type { EventStore } from '../../store/types.js'
import { badRequest, HttpError } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { readBodyText } from '../body.js'
import { existingSession, sessionParam } from '../params.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse } from '../describe.js'
import { header } from '../headers.js'

const RevertBody = z.strictObject({
  dryRun: z.boolean().optional().describe('answer the diff only; nothing is stored'),
  rationale: storableString().max(2000).optional().describe('why, kept in the events\' `meta.rationale`'),
})

const Path = z.enum(['selections', 'explorationPath', 'annotations', 'decisions'])
const RevertAnswer = z.object({
  run: z.string(),
  dryRun: z.boolean(),
  diff: z.array(z.object({
    path: Path, key: z.string(), change: z.enum(['added', 'changed', 'removed']),
    step: z.string().optional(), before: z.unknown().optional(), after: z.unknown().optional(),
  })).describe('the entries the revert changes (would change, for a dry run)'),
  updates: z.int().describe('the run\'s `doc.update` events taken back'),
  memoryEvents: z.int().describe('the run\'s memory events retracted'),
  touchedByOthers: z.array(z.object({ path: Path, key: z.string(), by: z.object({ id: z.string() }).loose(), version: z.int() }))
    .describe('entries the run changed that others changed after it: an entry the run created goes with their edits inside it'),
  version: z.int().optional().describe('the `doc.update` (or, when nothing of the document changed, the `run.reverted`) event\'s version'),
  position: z.int().optional(),
  event: z.string().optional().describe('the `run.reverted` event\'s id: the `doc.update`\'s `meta.causationId`'),
})

/** Plans computed again when the session moved on before one was stored, before answering 503. */
const MAX_ATTEMPTS = 5

export interface RunRoutesDeps {
  store: EventStore
  storeComputedUpdate(session: string, write: ComputedUpdate): Promise<StoreUpdateResult>
}

export function runRoutes({ store, storeComputedUpdate }: RunRoutesDeps) {
  const app = new Hono()

  app.post('/api/sessions/:id/runs/:run/revert', describeRoute({
    tags: ['document'],
    summary: 'Take back every document change of one run, keeping everyone else\'s later edits: one `doc.update` by the caller '
      + 'plus `run.reverted { run }`, which retracts the run\'s memory events from the graph, search and context. '
      + 'A human editor may revert any run, an agent only its own; `dryRun` answers the diff only',
    requestBody: { ...jsonBody(RevertBody, '`{ dryRun?, rationale? }`; the body may be left out'), required: false },
    responses: {
      201: jsonResponse('reverted: `{ run, dryRun: false, diff, updates, memoryEvents, touchedByOthers, version, position, event }`', RevertAnswer),
      200: jsonResponse('a dry run: `{ run, dryRun: true, diff, … }`, nothing stored', RevertAnswer),
      ...errorResponses([400, 404, 409, 413]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    const run = runParam(c)
    const { dryRun = false, rationale } = await bodyOf(c)
    const identity = c.get('identity')
    assertUnscoped(identity, 'reverting a run')
    await existingSession(store, session)
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const plan = await planRevert(store, session, run)
      if (!plan.found) {
        throw new HttpError(404, 'run_not_found', `session "${session}" has no changes or memory events of run "${run}" (GET /api/sessions/${session}/activity lists the runs)`)
      }
      if (plan.reverted) {
        throw new HttpError(409, 'run_already_reverted',
          `run "${run}" was reverted already, by ${plan.reverted.actor.id} at version ${plan.reverted.version} (${plan.reverted.recordedAt})`)
      }
      if (identity.kind !== 'human' && !hasRole(identity, 'admin') && plan.actor.id !== identity.id) {
        throw new AuthError('forbidden', `Forbidden: an agent may revert only its own runs, and run "${run}" is ${JSON.stringify(plan.actor.id)}'s; ask a human editor`)
      }
      const answer = {
        run, dryRun, diff: plan.diff, updates: plan.updates, memoryEvents: plan.memoryEvents, touchedByOthers: plan.touchedByOthers,
      }
      if (dryRun) return c.json(answer, 200)
      const actor = toActor(identity)
      const revertId = randomUUID()
      const meta = rationale === undefined ? {} : { rationale }
      const stored = await storeComputedUpdate(session, {
        actor,
        update: plan.update,
        meta: { ...meta, causationId: revertId },
        with: [{ id: revertId, type: RUN_REVERTED, data: { run }, actor, meta }],
        expectedVersion: plan.head.version,
      })
      if (stored.ok) {
        const first = stored.events[0]!
        return c.json({ ...answer, version: first.version, position: first.position, event: revertId }, 201)
      }
      if (stored.reason === 'too_large') {
        throw new HttpError(413, 'doc_too_large', `restoring what run "${run}" deleted would grow the document past ${stored.maxBytes} bytes (MNEMO_MAX_DOC_BYTES); nothing was stored`)
      }
    }
    throw new HttpError(503, 'busy', `session "${session}" kept changing while the revert was computed (${MAX_ATTEMPTS} times); try again`, { 'Retry-After': '1' })
  })

  return app
}

function runParam(c: Context): string {
  const run = c.req.param('run') ?? ''
  const problem = labelProblem(run)
  if (problem) throw badRequest(`run: ${problem} (the run id as the events' actor.run names it)`, 'invalid_run')
  return run
}

async function bodyOf(c: Context): Promise<z.output<typeof RevertBody>> {
  if (header(c, 'content-type') === undefined && (await readBodyText(c)).trim() === '') return {}
  const parsed = RevertBody.safeParse(await readJson(c), { reportInput: true })
  if (!parsed.success) throw badRequest(zodMessage(parsed.error))
  return parsed.data
}
