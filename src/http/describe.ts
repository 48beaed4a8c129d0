/**
 * The pieces every route's OpenAPI description is made of: the error body, the error
 * responses by status, query parameters, JSON and SSE responses. The routes attach
 * `describeRoute(...)` (hono-openapi) next to their handlers, with request bodies resolved from
 * the very zod schemas the handlers validate with, so the description cannot drift from them.
 */
import { resolver } from 'hono-openapi'
import type { OpenAPIV3_1 } from 'openapi-types'
import { z } from 'zod'

export { describeRoute } from 'hono-openapi'

/** `{ "error": { "code", "message" } }`: the one shape of every failure. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe('machine-readable, e.g. "session_not_found"'),
    message: z.string().describe('what was wrong and what to do'),
    details: z.array(z.unknown()).optional().describe('what exactly, as data: e.g. the entries of a `stale_write`'),
    reason: z.string().optional().describe('`budget` on a 429 for a token over its `budget` claim'),
    budget: z.enum(['updatesPerMinute', 'eventsPerRun', 'bytesPerRun']).optional().describe('with reason `budget`: the limit reached'),
    limit: z.number().optional().describe('with reason `budget`: its value in the token'),
  }),
})

/** An event as every read answers it (the store's envelope). */
export const EventEnvelopeSchema = z.object({
  id: z.string(),
  session: z.string(),
  position: z.int().describe('its place in the global log'),
  version: z.int().describe('its place in the session'),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  actor: z.object({ id: z.string(), name: z.string(), kind: z.enum(['human', 'agent', 'server']) }).loose(),
  meta: z.record(z.string(), z.unknown()),
  recordedAt: z.string(),
  hash: z.string(),
  prevHash: z.string(),
})

/** A page of events: `next` is the `after` of the next page, null at the end. */
export const EventPageSchema = z.object({ events: z.array(EventEnvelopeSchema), next: z.int().nullable() })

/** What an append answers: the events' places. */
export const AppendedSchema = z.object({ events: z.array(z.object({ id: z.string(), position: z.int(), version: z.int() })) })

const ERROR_MEANING = {
  400: 'invalid input; `error.message` names the parameter or field',
  401: 'no token, or a bad or expired one (token mode)',
  403: "the token's role or sessions do not allow this (`forbidden`), its `can` claim does not cover the write (`out_of_scope`), or its holder is suspended (`agent_suspended`)",
  404: 'no such session (`session_not_found`), proposal (`proposal_not_found`) or entity',
  406: 'the `Accept` header does not take what the route answers (`not_acceptable`)',
  409: 'a conflict: the session or event id exists, `expectedVersion` is not the current version, a `basedOn` write is stale (`stale_write`, with `error.details`), '
    + 'or a proposal is closed already (`proposal_closed`), conflicts with `onConflict: "abort"` (`proposal_conflict`) or cannot be applied any more (`proposal_not_applicable`)',
  413: 'the body, a batch or an event is too large',
  415: 'the body is not of the media type the route takes (`unsupported_media_type`)',
  429: 'over the rate limit, the open-stream limit (see `Retry-After`), or the token\'s `budget` (`error.reason: "budget"`; `Retry-After` only for `updatesPerMinute`)',
  503: 'the event store is unavailable; see `Retry-After`',
} as const

export type ErrorStatus = keyof typeof ERROR_MEANING

/** Statuses every route guarded by a token may answer, besides its own. */
const GUARDED: ErrorStatus[] = [401, 403, 429, 503]

/**
 * The error responses of a route: `own` plus those of every token-guarded route
 * (`guarded: false` for the public ones).
 */
export function errorResponses(own: ErrorStatus[], { guarded = true } = {}): Record<string, OpenAPIV3_1.ResponseObject> {
  const statuses = [...new Set([...own, ...(guarded ? GUARDED : [429, 503] as ErrorStatus[])])].sort()
  const responses: Record<string, OpenAPIV3_1.ResponseObject> = {}
  for (const status of statuses) {
    responses[status] = {
      description: ERROR_MEANING[status],
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } } : {}),
      // hono-openapi resolves `resolver(...)` in schema positions while generating the document.
      content: { 'application/json': { schema: resolver(ErrorBody) as unknown as OpenAPIV3_1.SchemaObject } },
    }
  }
  return responses
}

/** A JSON response: its description and, when given, the zod schema of its body. */
export function jsonResponse(description: string, schema?: z.ZodType): OpenAPIV3_1.ResponseObject {
  return {
    description,
    content: { 'application/json': { schema: schema ? (resolver(schema) as unknown as OpenAPIV3_1.SchemaObject) : { type: 'object' } } },
  }
}

/** A response of another media type (`text/event-stream`, JSON Lines, Markdown, HTML). */
export function textResponse(description: string, media: string): OpenAPIV3_1.ResponseObject {
  return { description, content: { [media]: { schema: { type: 'string' } } } }
}

/** An SSE response: `data` is the event envelope as JSON, `id` its position. */
export function sseResponse(description: string): OpenAPIV3_1.ResponseObject {
  return textResponse(`${description}. Server-Sent Events: each \`data\` is an event envelope (JSON), its \`id\` the event's position, so \`Last-Event-ID\` resumes.`, 'text/event-stream')
}

/** A request body checked by `schema` (the same object the handler calls `safeParse` on). */
export function jsonBody(schema: z.ZodType, description?: string): { required: true; description?: string; content: Record<string, { schema: OpenAPIV3_1.SchemaObject }> } {
  return { required: true, description, content: { 'application/json': { schema: resolver(schema) as unknown as OpenAPIV3_1.SchemaObject } } }
}

type QueryType = 'integer' | 'number' | 'string'

/** A query parameter as the routes' parsers in params.ts read it. */
export function query(name: string, type: QueryType, description: string, extra: OpenAPIV3_1.NonArraySchemaObject = {}): OpenAPIV3_1.ParameterObject {
  const schema = { type, ...(type === 'integer' ? { minimum: 0 } : {}), ...extra }
  return { in: 'query', name, required: false, description, schema } as OpenAPIV3_1.ParameterObject
}

/** The parameters of a page of events or a stream. */
export const afterParam = query('after', 'integer', 'only events after this position (default 0)')
export const afterVersionQuery = query('afterVersion', 'integer',
  "only the session's events after this version (a version range: not with `after`; default 0 when `throughVersion` is given)", { maximum: 2_147_483_647 })
export const throughVersionQuery = query('throughVersion', 'integer',
  "only the session's events up to and including this version (a version range: not with `after`; at least `afterVersion`)", { maximum: 2_147_483_647 })
export const limitQuery = query('limit', 'integer', 'at most this many (1–1000, default 100)', { minimum: 1, maximum: 1000 })
export const typesQuery = query('types', 'string', 'comma-separated event types or patterns, e.g. `memory.*,conversation.turn`')
export const lastEventIdHeader: OpenAPIV3_1.ParameterObject = {
  in: 'header', name: 'Last-Event-ID', required: false, description: 'a resuming EventSource: wins over `after`', schema: { type: 'integer', minimum: 0 },
}
