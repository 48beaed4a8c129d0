/**
 * The memory routes: the graph projection, full-text search (recorded as `memory.retrieved`),
 * requested cascades, and the context summary an agent puts in its context window.
 */
import { Hono, type Context } from 'hono'
import { z } from 'zod'
import { toActor } from '../../auth/identity.js'
import { assertMayAppend } from '../../auth/capabilities.js'
import { renderContextMarkdown } from '../../memory/context.js'
import { storableString } from '../../memory/issues.js'
import type { MemoryService } from '../../memory/memoryService.js'
import { cascadeRequestSchema, MAX_QUERY_CHARS } from '../../memory/schemas.js'
import { DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT } from '../../memory/search.js'
import { listParticipants } from '../../replay/participants.js'
import type { SessionState } from '../../session/schema.js'
import type { RichTextField } from '../../session/richText.js'
import type { EventStore } from '../../store/types.js'
import { badRequest, HttpError, sessionNotFound } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { existingSession, sessionParam } from '../params.js'
import { chargeBudget } from '../middleware/agentControl.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse, query } from '../describe.js'

export interface MemoryRoutesDeps {
  store: EventStore
  memory: MemoryService
  /** The session document as plain JSON (the sync rooms know it). */
  /** The session's document as JSON, and its rich-text fields as plain text. */
  documentOf(session: string): Promise<{ state: SessionState; richText: RichTextField[] }>
}

const searchRequestSchema = z.strictObject({
  query: storableString().trim().min(1).max(MAX_QUERY_CHARS),
  limit: z.int().min(1).max(MAX_SEARCH_LIMIT).optional(),
})

/** The JSON body checked against `schema`; a 400 naming the fields otherwise. */
async function bodyOf<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const body = await readJson(c)
  const parsed = schema.safeParse(body, { reportInput: true })
  if (parsed.success) return parsed.data
  throw badRequest(zodMessage(parsed.error))
}

export function memoryRoutes(deps: MemoryRoutesDeps) {
  const { store, memory, documentOf } = deps
  const app = new Hono()

  const noSession = sessionNotFound

  app.get('/api/sessions/:id/memories', describeRoute({
    tags: ['memory'],
    summary: 'The memory graph projection: memories with importance, connections with strength',
    responses: { 200: jsonResponse('`{ session, memories, connections, ... }`'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const graph = await memory.graph(session)
    if (!graph) throw noSession(session)
    return c.json({ session, ...graph })
  })

  // A reader may search; the server records the retrieval, attributed to the reader.
  app.post('/api/sessions/:id/memories/search', describeRoute({
    tags: ['memory'],
    summary: 'Full-text search of the memories (PostgreSQL), recorded as `memory.retrieved`',
    requestBody: jsonBody(searchRequestSchema),
    responses: { 200: jsonResponse('`{ query, results, event }`'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const { query, limit } = await bodyOf(c, searchRequestSchema)
    const outcome = await memory.search(session, query, limit ?? DEFAULT_SEARCH_LIMIT, toActor(c.get('identity')))
    if (!outcome.ok) throw noSession(session)
    return c.json({ query, results: outcome.results, event: outcome.event })
  })

  app.post('/api/sessions/:id/cascades', describeRoute({
    tags: ['memory'],
    summary: 'Run and record a cascade from a memory (editor); a token with a `can` claim needs `memory.cascade:append` (or `memory.*:append`)',
    requestBody: jsonBody(cascadeRequestSchema),
    responses: { 201: jsonResponse('the recorded cascade event'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'write')
    // Asked for by the caller and attributed to it: a write of a `memory.cascade` event.
    assertMayAppend(c.get('identity'), 'memory.cascade')
    const request = await bodyOf(c, cascadeRequestSchema)
    const refund = chargeBudget(c, { events: 1, bytes: Buffer.byteLength(JSON.stringify(request), 'utf8') })
    const outcome = await memory.requestCascade(session, request, toActor(c.get('identity'))).catch((error: unknown) => {
      refund()
      throw error
    })
    if (!outcome.ok) refund()
    if (!outcome.ok && outcome.reason === 'unknown_session') throw noSession(session)
    if (!outcome.ok) {
      throw new HttpError(404, 'memory_not_found',
        `memoryId: session "${session}" has no memory ${JSON.stringify(request.memoryId)} (neither formed nor connected)`)
    }
    return c.json(outcome.event, 201)
  })

  app.get('/api/sessions/:id/context', describeRoute({
    tags: ['memory'],
    summary: "A compact summary for an agent's context: participants, selections, path, open annotations, decisions, rich text (the start of each field), recent memory events",
    parameters: [query('format', 'string', '`json` (default) or `md`', { enum: ['json', 'md'] })],
    responses: {
      200: { description: 'the summary', content: { 'application/json': { schema: { type: 'object' } }, 'text/markdown': { schema: { type: 'string' } } } },
      ...errorResponses([400, 404]),
    },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const format = c.req.query('format') ?? 'json'
    if (format !== 'json' && format !== 'md') throw badRequest(`format must be "md" or "json" (got "${format.slice(0, 40)}")`)
    await existingSession(store, session)
    const [{ state, richText }, participants] = await Promise.all([documentOf(session), listParticipants(store, session)])
    const context = await memory.context(session, { state, participants, richText })
    if (format === 'json') return c.json(context)
    c.header('Content-Type', 'text/markdown; charset=utf-8')
    return c.body(renderContextMarkdown(context))
  })

  return app
}
