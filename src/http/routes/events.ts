/**
 * The event routes: append (one or a batch, idempotent, optimistic concurrency), read a
 * page, stream live (SSE), the global feed for admins, and the hash-chain check.
 */
import { Hono } from 'hono'
import { z } from 'zod'
import { toActor } from '../../auth/identity.js'
import { assertCan } from '../../auth/roles.js'
import { assertMayAppend } from '../../auth/capabilities.js'
import { storableString } from '../../memory/issues.js'
import type { MemoryService } from '../../memory/memoryService.js'
import { toEnvelope } from '../../store/rows.js'
import type { EventStore, StoredEvent } from '../../store/types.js'
import { badRequest, HttpError } from '../errors.js'
import { chargeBudget } from '../middleware/agentControl.js'
import { readJson, zodMessage } from '../json.js'
import { existingSession, limitParam, positionParam, resumeParam, sessionParam, typesParam, versionParam } from '../params.js'
import { createStreamLimit, streamEvents } from '../sse.js'
import { AppendedSchema, afterParam, afterVersionQuery, describeRoute, EventPageSchema, errorResponses, jsonBody, jsonResponse, lastEventIdHeader, limitQuery, sseResponse, throughVersionQuery, typesQuery } from '../describe.js'

const Meta = z.strictObject({
  causationId: storableString().max(128).nullable().optional(),
  correlationId: storableString().max(128).nullable().optional(),
  rationale: storableString().max(2000).optional(),
})
const EventInput = z.strictObject({
  id: z.uuid().optional(),
  type: z.string().min(1).max(128),
  // Checked (an object, storable, the type's schema) by appendClientEvents. Not z.record:
  // it copies into a fresh object, where a `__proto__` key sets the prototype and vanishes.
  data: z.unknown(),
  meta: Meta.optional(),
})
const SingleBody = EventInput.extend({ expectedVersion: z.int().min(0).optional() })
const BatchBody = z.strictObject({
  events: z.array(EventInput).min(1),
  expectedVersion: z.int().min(0).optional(),
})

export interface EventRoutesDeps {
  store: EventStore
  /** Takes the client's events: validation, memory preparation, append, automatic cascades. */
  memory: Pick<MemoryService, 'appendClientEvents'>
  maxBatchEvents: number
  /** Live streams (`…/stream`, `/api/stream`) one identity may hold open (default 16). */
  maxStreamsPerIdentity?: number
}

export function eventRoutes(deps: EventRoutesDeps) {
  const { store, memory } = deps
  const streams = createStreamLimit(deps.maxStreamsPerIdentity ?? 16)
  const app = new Hono()

  app.post('/api/sessions/:id/events', describeRoute({
    tags: ['events'],
    summary: 'Append one event, or a batch atomically (editor); idempotent by event id, optimistic concurrency by `expectedVersion`. '
      + 'A token with a `can` claim appends only the types it names (`memory.*:append`; else 403 `out_of_scope` naming the type), '
      + 'and one with a `budget` claim only within it (else 429, `error.reason: "budget"`)',
    requestBody: {
      required: true,
      description: 'one event, or `{ events: [...] }` (a body with an `events` field is read as a batch)',
      content: jsonBody(z.union([SingleBody, BatchBody])).content,
    },
    responses: {
      201: jsonResponse('`{ events: [{ id, position, version }] }`', AppendedSchema),
      200: jsonResponse('the same event ids again: the original events, nothing appended', AppendedSchema),
      ...errorResponses([400, 403, 404, 409, 413, 429]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    const body = await readJson(c)
    const isBatch = typeof body === 'object' && body !== null && 'events' in body
    const parsed = isBatch ? BatchBody.safeParse(body) : SingleBody.safeParse(body)
    if (!parsed.success) throw badRequest(zodMessage(parsed.error))
    const inputs = 'events' in parsed.data ? parsed.data.events : [parsed.data]
    if (inputs.length > deps.maxBatchEvents) {
      throw new HttpError(413, 'batch_too_large', `events: at most ${deps.maxBatchEvents} events per batch (got ${inputs.length})`)
    }
    // A scoped token appends only the types its `can` names: the whole batch is refused otherwise.
    for (const input of inputs) assertMayAppend(c.get('identity'), input.type)
    const refund = chargeBudget(c, { events: inputs.length, bytes: c.get('identity').budget ? dataBytes(inputs) : 0 })
    const result = await memory.appendClientEvents(session, inputs, {
      actor: toActor(c.get('identity')),
      expectedVersion: parsed.data.expectedVersion,
    }).catch((error: unknown) => {
      refund()
      throw error
    })
    if (!result.ok || result.duplicate) refund()
    if (!result.ok) {
      if (result.reason === 'invalid') {
        throw new HttpError(result.status, result.code, (isBatch ? `events[${result.index}].` : '') + result.message)
      }
      if (result.reason === 'version_conflict') {
        throw new HttpError(409, 'version_conflict',
          `expectedVersion is ${result.expected} but session "${session}" is at version ${result.actual}; read its new events and retry`)
      }
      throw new HttpError(409, 'id_conflict', result.message)
    }
    return c.json({ events: result.events }, result.duplicate ? 200 : 201)
  })

  app.get('/api/sessions/:id/events', describeRoute({
    tags: ['events'],
    summary: "A page of a session's events in order: from a position (`after`), or within a range of the session's versions "
      + '(`afterVersion`, `throughVersion`: versions run 1, 2, 3… without gaps, so a client that knows the head version '
      + '(`GET /api/sessions/{id}`) can fetch the pages of its history at once, in any order)',
    parameters: [afterParam, afterVersionQuery, throughVersionQuery, limitQuery, typesQuery],
    responses: {
      200: jsonResponse('`{ events, next }`: `next` is the cursor of the next page, null at the end: the `after` (a position) of the next page, '
        + 'or with a version range its `afterVersion` (the last event\'s version; null once the range is read)', EventPageSchema),
      ...errorResponses([400, 404]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const limit = limitParam(c)
    const types = typesParam(c)
    const after = positionParam(c, 'after')
    const afterVersion = versionParam(c, 'afterVersion')
    const throughVersion = versionParam(c, 'throughVersion')
    let events: StoredEvent[]
    let next: number | null
    if (afterVersion === undefined && throughVersion === undefined) {
      events = await store.read(session, { after: after ?? 0, limit, types })
      next = events.length === limit ? events.at(-1)!.position : null
    } else {
      if (after !== undefined) {
        throw badRequest('after cannot be combined with afterVersion or throughVersion: page by position (after) or by version (afterVersion, throughVersion), not both')
      }
      const from = afterVersion ?? 0
      if (throughVersion !== undefined && throughVersion < from) {
        throw badRequest(`throughVersion (${throughVersion}) must be at least afterVersion (${from}): the range is the versions after afterVersion, through throughVersion`)
      }
      events = await store.readVersions(session, { after: from, through: throughVersion, limit, types })
      const last = events.at(-1)
      next = events.length === limit && last!.version !== throughVersion ? last!.version : null
    }
    // A session has at least its session.created: only an empty page can mean there is none.
    if (events.length === 0) await existingSession(store, session)
    return c.json({ events: events.map(toEnvelope), next })
  })

  // The one read of a session that may start before it exists: a client can wait for its first event.
  app.get('/api/sessions/:id/stream', describeRoute({
    tags: ['events'],
    summary: "A session's events: catch up from `after`, then live (may be opened before the session exists)",
    parameters: [afterParam, typesQuery, lastEventIdHeader],
    responses: { 200: sseResponse('the events, then live ones; a token-opened stream ends with `event: expired` at its expiry'), ...errorResponses([400]) },
  }), (c) => {
    const session = sessionParam(c, 'read')
    return streamEvents(c, store, { session, after: resumeParam(c) ?? 0, types: typesParam(c) }, streams)
  })

  app.get('/api/events', describeRoute({
    tags: ['events'],
    summary: "A page of all sessions' events in global order (admin)",
    parameters: [afterParam, limitQuery, typesQuery],
    responses: { 200: jsonResponse('`{ events, next }`', EventPageSchema), ...errorResponses([400]) },
  }), async (c) => {
    assertCan(c.get('identity'), 'admin')
    const limit = limitParam(c)
    const events = await store.readAll({ after: positionParam(c, 'after') ?? 0, limit, types: typesParam(c) })
    return c.json({ events: events.map(toEnvelope), next: events.length === limit ? events.at(-1)!.position : null })
  })

  app.get('/api/stream', describeRoute({
    tags: ['events'],
    summary: "All sessions' events in global order, then live (admin): a dashboard's feed",
    parameters: [afterParam, typesQuery, lastEventIdHeader],
    responses: { 200: sseResponse('the events, then live ones'), ...errorResponses([400]) },
  }), (c) => {
    assertCan(c.get('identity'), 'admin')
    return streamEvents(c, store, { after: resumeParam(c) ?? 0, types: typesParam(c) }, streams)
  })

  app.get('/api/sessions/:id/verify', describeRoute({
    tags: ['events'],
    summary: "Check the session's hash chain",
    responses: { 200: jsonResponse('`{ ok, checked, firstBad?: version }`'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    await existingSession(store, session)
    return c.json(await store.verify(session))
  })

  return app
}

/** What a batch's `data` weighs as UTF-8 JSON (what `bytesPerRun` counts). */
function dataBytes(inputs: { data: unknown }[]): number {
  let bytes = 0
  for (const { data } of inputs) {
    try {
      bytes += Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8')
    } catch {
      // Too deep to encode: validation refuses it with a 400 before anything is stored.
    }
  }
  return bytes
}
