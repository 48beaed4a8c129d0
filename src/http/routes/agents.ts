/**
 * The kill switch over HTTP: suspend an agent (its connections close on every instance, its
 * requests and new connections are refused) and resume it; list and read suspensions. Allowed to
 * an admin (for all sessions), or to the human the agent acts for — the `onBehalfOf` of its
 * newest event in the log — who may lift only a suspension it made itself.
 */
import { Hono, type Context } from 'hono'
import { z } from 'zod'
import { AuthError } from '../../auth/errors.js'
import { labelProblem, toActor, type Identity } from '../../auth/identity.js'
import { allSessions, hasRole } from '../../auth/roles.js'
import type { Suspension, Suspensions } from '../../control/suspensions.js'
import { storableString } from '../../memory/issues.js'
import { latestActor } from '../../store/queries/latestActor.js'
import type { EventStore } from '../../store/types.js'
import { badRequest } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { readBodyText } from '../body.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse } from '../describe.js'
import { header } from '../headers.js'

const ReasonBody = z.strictObject({ reason: storableString().min(1).max(500).optional() })

export interface AgentRoutesDeps {
  store: EventStore
  suspensions: Suspensions
}

const isAdmin = (identity: Identity) => hasRole(identity, 'admin') && allSessions(identity)

export function agentRoutes({ store, suspensions }: AgentRoutesDeps) {
  const app = new Hono()

  /** The human the agent acts for, as its newest event (or its suspension) names it. */
  async function principalOf(agent: string): Promise<string | undefined> {
    return (await latestActor(store.driver, agent))?.onBehalfOf ?? suspensions.get(agent)?.onBehalfOf
  }

  /** Throws the 403 unless the caller is an admin or the agent's human; returns that human. */
  async function assertMayControl(c: Context, agent: string, what: string): Promise<string | undefined> {
    const identity = c.get('identity')
    const principal = await principalOf(agent)
    if (isAdmin(identity)) return principal
    if (identity.kind === 'human' && principal !== undefined && principal === identity.id) return principal
    const named = principal === undefined ? 'its events in the log name none' : `its events name ${JSON.stringify(principal)}`
    throw new AuthError('forbidden', `Forbidden: only an admin (for all sessions) or the human ${JSON.stringify(agent)} acts for (its onBehalfOf: ${named}) may ${what} it`)
  }

  app.post('/api/agents/:id/suspend', describeRoute({
    tags: ['agents'],
    summary: 'Suspend an agent (admin, or the human named in its `onBehalfOf`): its sync connections close with 4403 on every instance, '
      + 'its requests and new connections are refused (403 `agent_suspended`) until resumed; recorded as `agent.suspended` in the log',
    requestBody: { ...jsonBody(ReasonBody, '`{ reason? }`; the body may be left out'), required: false },
    responses: {
      201: jsonResponse('`{ agent, suspended: true, since, by, reason?, onBehalfOf?, position }`: recorded now'),
      200: jsonResponse('the same, for an agent suspended already (nothing recorded)'),
      ...errorResponses([400]),
    },
  }), async (c) => {
    const agent = agentParam(c)
    const { reason } = await reasonOf(c)
    const onBehalfOf = await assertMayControl(c, agent, 'suspend')
    const { suspension, recorded } = await suspensions.suspend(agent, toActor(c.get('identity')), { reason, onBehalfOf })
    return c.json(view(suspension), recorded ? 201 : 200)
  })

  app.post('/api/agents/:id/resume', describeRoute({
    tags: ['agents'],
    summary: 'Resume a suspended agent (admin, or the human named in its `onBehalfOf` for a suspension it made itself); recorded as `agent.resumed`',
    requestBody: { ...jsonBody(ReasonBody, '`{ reason? }`; the body may be left out'), required: false },
    responses: { 200: jsonResponse('`{ agent, suspended: false, resumed }`: `resumed` is false when it was not suspended'), ...errorResponses([400]) },
  }), async (c) => {
    const agent = agentParam(c)
    const { reason } = await reasonOf(c)
    await assertMayControl(c, agent, 'resume')
    const current = suspensions.get(agent)
    const identity = c.get('identity')
    if (current && !isAdmin(identity) && current.by.id !== identity.id) {
      throw new AuthError('forbidden', `Forbidden: ${JSON.stringify(agent)} was suspended by ${JSON.stringify(current.by.id)}; only an admin or they may resume it`)
    }
    const { lifted } = await suspensions.resume(agent, toActor(identity), { reason })
    return c.json({ agent, suspended: false, resumed: lifted !== undefined })
  })

  app.get('/api/agents/:id', describeRoute({
    tags: ['agents'],
    summary: "An agent's suspension (admin, or the human named in its `onBehalfOf`)",
    responses: { 200: jsonResponse('`{ agent, suspended, since?, by?, reason?, onBehalfOf?, position? }`'), ...errorResponses([400]) },
  }), async (c) => {
    const agent = agentParam(c)
    await assertMayControl(c, agent, 'look up')
    const suspension = suspensions.get(agent)
    return c.json(suspension ? view(suspension) : { agent, suspended: false })
  })

  app.get('/api/agents', describeRoute({
    tags: ['agents'],
    summary: 'The suspensions in force (admin)',
    responses: { 200: jsonResponse('`{ suspended: [{ agent, suspended: true, since, by, reason?, onBehalfOf?, position }] }`'), ...errorResponses([]) },
  }), (c) => {
    if (!isAdmin(c.get('identity'))) throw new AuthError('forbidden', 'Forbidden: listing suspensions needs role admin with a token for all sessions ("*")')
    return c.json({ suspended: suspensions.list().map(view) })
  })

  return app
}

function agentParam(c: Context): string {
  const id = c.req.param('id') ?? ''
  const problem = labelProblem(id)
  if (problem) throw badRequest(`agent id ${problem}`, 'invalid_agent_id')
  return id
}

/** The optional body: none at all is `{}`. */
async function reasonOf(c: Context): Promise<z.output<typeof ReasonBody>> {
  if (header(c, 'content-type') === undefined && (await readBodyText(c)).trim() === '') return {}
  const parsed = ReasonBody.safeParse(await readJson(c))
  if (!parsed.success) throw badRequest(zodMessage(parsed.error))
  return parsed.data
}

function view(s: Suspension) {
  return { agent: s.agent, suspended: true, since: s.since, by: s.by, ...(s.reason !== undefined && { reason: s.reason }), ...(s.onBehalfOf !== undefined && { onBehalfOf: s.onBehalfOf }), position: s.position }
}
