/**
 * The event routes: append (one or a batch, idempotent, optimistic concurrency), read a
 * page, stream live (SSE), the global feed for admins, and the hash-chain check.
 */
import { Hono } from 'hono'
import { z } from 'zod'
import { toActor } from '../../auth/identity.js'
import { assertCan } from '../../auth/roles.js'
import { validateClientEvent } from '../../memory/schemas.js'
import { toEnvelope } from '../../store/rows.js'
import type { EventStore, NewEvent } from '../../store/types.js'
import { badRequest, HttpError } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { limitParam, positionParam, resumeParam, sessionParam, typesParam } from '../params.js'
import { streamEvents } from '../sse.js'

const Meta = z.strictObject({
  causationId: z.string().max(128).nullable().optional(),
  correlationId: z.string().max(128).nullable().optional(),
  rationale: z.string().max(2000).optional(),
})
const EventInput = z.strictObject({
  id: z.uuid().optional(),
  type: z.string().min(1).max(128),
  data: z.record(z.string(), z.unknown()),
  meta: Meta.optional(),
})
const SingleBody = EventInput.extend({ expectedVersion: z.int().min(0).optional() })
const BatchBody = z.strictObject({
  events: z.array(EventInput).min(1),
  expectedVersion: z.int().min(0).optional(),
})

export interface EventRoutesDeps {
  store: EventStore
  maxBatchEvents: number
  /** Work done on client events before they are appended (memory: `previous` strengths). */
  prepareEvents?(session: string, events: NewEvent[]): Promise<NewEvent[]>
  /** Work done after an append (memory: automatic cascades). */
  afterAppend?(session: string, events: NewEvent[], positions: number[]): Promise<void>
}

export function eventRoutes(deps: EventRoutesDeps) {
  const { store } = deps
  const app = new Hono()

  app.post('/api/sessions/:id/events', async (c) => {
    const session = sessionParam(c, 'write')
    const body = await readJson(c)
    const isBatch = typeof body === 'object' && body !== null && 'events' in body
    const parsed = isBatch ? BatchBody.safeParse(body) : SingleBody.safeParse(body)
    if (!parsed.success) throw badRequest(zodMessage(parsed.error))
    const inputs = 'events' in parsed.data ? parsed.data.events : [parsed.data]
    if (inputs.length > deps.maxBatchEvents) {
      throw new HttpError(413, 'batch_too_large', `events: at most ${deps.maxBatchEvents} events per batch (got ${inputs.length})`)
    }
    const actor = toActor(c.var.identity)
    let events: NewEvent[] = inputs.map((input, i) => {
      const checked = validateClientEvent(input.type, input.data)
      if (!checked.ok) {
        const where = isBatch ? `events[${i}].` : ''
        throw new HttpError(checked.status, checked.code, where + checked.message)
      }
      return { id: input.id, type: input.type, data: checked.data, actor, meta: input.meta }
    })
    if (deps.prepareEvents) events = await deps.prepareEvents(session, events)
    const result = await store.append(session, events, {
      expectedVersion: parsed.data.expectedVersion,
      ifNew: [{ type: 'session.created', data: {}, actor }],
    })
    if (!result.ok) {
      if (result.reason === 'version_conflict') {
        throw new HttpError(409, 'version_conflict',
          `expectedVersion is ${result.expected} but session "${session}" is at version ${result.actual}; read its new events and retry`)
      }
      throw new HttpError(409, 'id_conflict', result.message)
    }
    if (!result.duplicate && deps.afterAppend) {
      await deps.afterAppend(session, events, result.events.map((e) => e.position))
    }
    return c.json({ events: result.events }, result.duplicate ? 200 : 201)
  })

  app.get('/api/sessions/:id/events', async (c) => {
    const session = sessionParam(c, 'read')
    const limit = limitParam(c)
    const events = await store.read(session, { after: positionParam(c, 'after') ?? 0, limit, types: typesParam(c) })
    return c.json({ events: events.map(toEnvelope), next: events.length === limit ? events.at(-1)!.position : null })
  })

  app.get('/api/sessions/:id/stream', (c) => {
    const session = sessionParam(c, 'read')
    return streamEvents(c, store, { session, after: resumeParam(c) ?? 0, types: typesParam(c) })
  })

  app.get('/api/events', async (c) => {
    assertCan(c.var.identity, 'admin')
    const limit = limitParam(c)
    const events = await store.readAll({ after: positionParam(c, 'after') ?? 0, limit, types: typesParam(c) })
    return c.json({ events: events.map(toEnvelope), next: events.length === limit ? events.at(-1)!.position : null })
  })

  app.get('/api/stream', (c) => {
    assertCan(c.var.identity, 'admin')
    return streamEvents(c, store, { after: resumeParam(c) ?? 0, types: typesParam(c) })
  })

  app.get('/api/sessions/:id/verify', async (c) => {
    const session = sessionParam(c, 'read')
    if (!(await store.head(session))) throw new HttpError(404, 'not_found', `session "${session}" does not exist`)
    return c.json(await store.verify(session))
  })

  return app
}
