/**
 * Sessions: list (with participant counts and last activity), create, and read one — its
 * version, participants and the current state of its document.
 */
import { randomUUID } from 'node:crypto'
import { Hono } from 'hono'
import { z } from 'zod'
import { toActor } from '../../auth/identity.js'
import { storableString } from '../../memory/issues.js'
import { sessionIdPattern } from '../../vocabulary.js'
import { allSessions, assertCan, sessionAllowed } from '../../auth/roles.js'
import { listParticipants } from '../../replay/participants.js'
import type { SessionState } from '../../session/schema.js'
import type { EventStore } from '../../store/types.js'
import { badRequest, HttpError } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { existingSession, limitParam, sessionParam } from '../params.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse, limitQuery } from '../describe.js'

const CreateBody = z.strictObject({
  id: z.string().regex(sessionIdPattern, `must match ${sessionIdPattern.source}`).optional(),
  title: storableString().min(1).max(256).optional(),
})

export interface SessionRoutesDeps {
  store: EventStore
  /** The session document's current state (the loaded room's, else loaded from the log). */
  stateOf(session: string): Promise<SessionState>
}

export function sessionRoutes({ store, stateOf }: SessionRoutesDeps) {
  const app = new Hono()

  app.get('/api/sessions', describeRoute({
    tags: ['sessions'],
    summary: 'List the sessions the caller may read, with participant counts and last activity',
    parameters: [limitQuery],
    responses: { 200: jsonResponse('`{ sessions: [{ id, title, version, position, createdAt, lastActivity, participants, online }] }`'), ...errorResponses([400]) },
  }), async (c) => {
    const identity = c.get('identity')
    const limit = limitParam(c, 100, 1000)
    const heads = (await store.listSessions())
      // Streams of the log that are no sessions (the agents' stream) have ids no session can have.
      .filter((h) => sessionIdPattern.test(h.id))
      .filter((h) => allSessions(identity) || sessionAllowed(identity, h.id))
      .slice(0, limit)
    const sessions = await Promise.all(heads.map(async (head) => {
      const [first] = await store.read(head.id, { limit: 1 })
      const participants = await listParticipants(store, head.id)
      return {
        id: head.id,
        title: (first?.type === 'session.created' ? (first.data.title as string | undefined) : undefined) ?? null,
        version: head.version,
        position: head.position,
        createdAt: head.createdAt,
        lastActivity: head.updatedAt,
        participants: participants.length,
        online: participants.filter((p) => p.online).length,
      }
    }))
    return c.json({ sessions })
  })

  app.post('/api/sessions', describeRoute({
    tags: ['sessions'],
    summary: 'Create a session (editor or admin); recorded as `session.created`',
    requestBody: jsonBody(CreateBody, 'without `id`, a random UUID is chosen'),
    responses: { 201: jsonResponse('`{ id, title, version, position }`'), ...errorResponses([400, 409]) },
  }), async (c) => {
    const parsed = CreateBody.safeParse(await readJson(c))
    if (!parsed.success) throw badRequest(zodMessage(parsed.error))
    const id = parsed.data.id ?? randomUUID()
    assertCan(c.get('identity'), 'create', id)
    const data = parsed.data.title !== undefined ? { title: parsed.data.title } : {}
    const result = await store.append(id, [{ type: 'session.created', data, actor: toActor(c.get('identity')) }], { expectedVersion: 0 })
    if (!result.ok) throw new HttpError(409, 'session_exists', `session "${id}" already exists`)
    return c.json({ id, title: parsed.data.title ?? null, version: result.version, position: result.events[0].position }, 201)
  })

  app.get('/api/sessions/:id', describeRoute({
    tags: ['sessions'],
    summary: "A session: its version, position, participants and its document's current state",
    responses: { 200: jsonResponse('`{ id, version, position, participants: [{ id, name, kind, online }], state: { selections, explorationPath, annotations, decisions } }`'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const head = await existingSession(store, session)
    const [participants, state] = await Promise.all([listParticipants(store, session), stateOf(session)])
    return c.json({ id: session, version: head.version, position: head.position, participants, state })
  })

  return app
}
