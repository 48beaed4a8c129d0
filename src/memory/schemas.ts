/**
 * What clients may append: one strict zod schema per memory/conversation event type, the
 * rules for other `a.b` types and reserved prefixes, and `validateClientEvent`, whose
 * error messages name the offending field so a caller can fix its request.
 */
import { z } from 'zod'
import { formatPath, issuesMessage } from '../zodIssues.js'
import { findUnstorable } from './issues.js'

/** Bounds. Data as a whole is capped at `MAX_DATA_BYTES` of UTF-8 JSON. */
export const MAX_DATA_BYTES = 64 * 1024
export const MAX_ID_CHARS = 256
export const MAX_CONTENT_CHARS = 32 * 1024
export const MAX_KIND_CHARS = 64
export const MAX_TAG_CHARS = 64
export const MAX_TAGS = 64
export const MAX_CONNECTIONS = 512
export const MAX_TYPE_CHARS = 128
export const MAX_QUERY_CHARS = 1024
/** Objects and arrays inside data nest at most this deep (data itself is level 0). */
export const MAX_DATA_DEPTH = 64

/** Client type names: lowercase dot-separated segments, at least two (`note.added`). */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

/** Prefixes only the server writes under, except the client memory types below. */
export const RESERVED_PREFIXES = ['doc.', 'session.', 'participant.', 'memory.', 'decision.', 'proposal.'] as const

const memoryId = z.string().min(1).max(MAX_ID_CHARS)
const unit = z.number().min(0).max(1)

const connection = z.strictObject({ to: memoryId, strength: unit })

export const memoryFormedSchema = z
  .strictObject({
    memoryId,
    content: z.string().min(1).max(MAX_CONTENT_CHARS),
    kind: z.string().min(1).max(MAX_KIND_CHARS).optional(),
    importance: unit.default(0.5),
    tags: z.array(z.string().min(1).max(MAX_TAG_CHARS)).max(MAX_TAGS).optional(),
    connections: z.array(connection).max(MAX_CONNECTIONS).optional(),
  })
  .superRefine((data, ctx) => {
    // A self-connection or two strengths for one pair would make the graph ambiguous.
    const seen = new Set<string>()
    data.connections?.forEach((c, i) => {
      if (c.to === data.memoryId) {
        ctx.addIssue({ code: 'custom', path: ['connections', i, 'to'], message: 'must differ from memoryId (a memory cannot connect to itself)' })
      } else if (seen.has(c.to)) {
        ctx.addIssue({ code: 'custom', path: ['connections', i, 'to'], message: `duplicate connection to ${JSON.stringify(c.to)}` })
      }
      seen.add(c.to)
    })
  })

const pair = z.strictObject({ from: memoryId, to: memoryId, strength: unit }).refine((d) => d.from !== d.to, {
  path: ['to'],
  message: 'must differ from "from" (a memory cannot connect to itself)',
})

export const memoryConnectedSchema = pair
/** As a client sends it; the server adds `previous` before appending. */
export const memoryStrengthChangedSchema = pair
/** As it is stored: `previous` is the strength before the change, null when there was no connection. */
export const memoryStrengthChangedRecordedSchema = z.strictObject({
  from: memoryId,
  to: memoryId,
  strength: unit,
  previous: unit.nullable(),
})

export const conversationTurnSchema = z.strictObject({
  role: z.enum(['user', 'assistant', 'system', 'agent']),
  // Empty content is allowed: a turn may consist only of a tool call recorded elsewhere.
  content: z.string().max(MAX_CONTENT_CHARS),
  turnIndex: z.number().int().min(0).optional(),
})

/** Server-recorded types, exported for tests and documentation. */
export const memoryCascadeSchema = z.strictObject({
  source: memoryId,
  /** The event that started it; null when it was requested over HTTP. */
  trigger: z.string().min(1).max(MAX_ID_CHARS).nullable(),
  cascadeStrength: unit,
  affected: z.array(
    z.strictObject({ memoryId, activation: z.number().gt(0).max(1), depth: z.number().int().min(1) }),
  ),
})

export const memoryRetrievedSchema = z.strictObject({
  query: z.string().max(MAX_QUERY_CHARS),
  results: z.array(z.strictObject({ memoryId, score: z.number() })),
})

export const decisionReachedSchema = z.strictObject({
  decisionId: z.string().min(1).max(MAX_ID_CHARS),
  outcome: z.string(),
  votes: z.record(z.string(), z.string()),
})

/** The body of `POST /api/sessions/:id/cascades`. */
export const cascadeRequestSchema = z.strictObject({ memoryId, strength: unit.optional() })

export const CLIENT_MEMORY_SCHEMAS = {
  'memory.formed': memoryFormedSchema,
  'memory.connected': memoryConnectedSchema,
  'memory.strength_changed': memoryStrengthChangedSchema,
  'conversation.turn': conversationTurnSchema,
} as const

export const SERVER_SCHEMAS = {
  'memory.cascade': memoryCascadeSchema,
  'memory.retrieved': memoryRetrievedSchema,
  'memory.strength_changed': memoryStrengthChangedRecordedSchema,
  'decision.reached': decisionReachedSchema,
} as const

export type MemoryFormedData = z.output<typeof memoryFormedSchema>
export type MemoryConnectedData = z.output<typeof memoryConnectedSchema>
export type MemoryStrengthChangedData = z.output<typeof memoryStrengthChangedRecordedSchema>
export type ConversationTurnData = z.output<typeof conversationTurnSchema>
export type MemoryCascadeData = z.output<typeof memoryCascadeSchema>
export type MemoryRetrievedData = z.output<typeof memoryRetrievedSchema>
export type DecisionReachedData = z.output<typeof decisionReachedSchema>

export type ValidationCode = 'invalid_event_type' | 'reserved_event_type' | 'invalid_event_data' | 'event_data_too_large'

export interface Refusal {
  ok: false
  status: 400 | 413
  code: ValidationCode
  message: string
}

export type ValidationResult = { ok: true; data: Record<string, unknown> } | Refusal

const SERVER_MEMORY_TYPES = new Set(['memory.cascade', 'memory.retrieved'])
/** The kill switch's record (control/suspensions.ts); other `agent.` types (`agent.rationale`) are the clients'. */
const SERVER_AGENT_TYPES = new Set(['agent.suspended', 'agent.resumed'])
/** A run's revert (http/routes/runs.ts): it retracts the run's memory events, so only the server records it. */
const SERVER_RUN_TYPES = new Set(['run.reverted'])

function refuse(status: 400 | 413, code: ValidationCode, message: string): Refusal {
  return { ok: false, status, code, message }
}

/** Why a client may not append `type`, or undefined when it may. */
export function checkClientType(type: unknown): Refusal | undefined {
  if (typeof type !== 'string' || type.length === 0) {
    return refuse(400, 'invalid_event_type', 'type: is required (a name like "note.added")')
  }
  const shown = JSON.stringify(type.length > 80 ? `${type.slice(0, 80)}…` : type)
  if (type.length > MAX_TYPE_CHARS) {
    return refuse(400, 'invalid_event_type', `type: must be at most ${MAX_TYPE_CHARS} characters`)
  }
  if (!EVENT_TYPE_PATTERN.test(type)) {
    return refuse(
      400,
      'invalid_event_type',
      `type: ${shown} must be lowercase dot-separated segments of letters, digits and _, like "note.added"`,
    )
  }
  if (type in CLIENT_MEMORY_SCHEMAS) return undefined
  if (SERVER_MEMORY_TYPES.has(type) || SERVER_AGENT_TYPES.has(type) || SERVER_RUN_TYPES.has(type)) {
    return refuse(400, 'reserved_event_type', `type: ${shown} is recorded by the server; clients cannot append it`)
  }
  const prefix = RESERVED_PREFIXES.find((p) => type.startsWith(p))
  if (prefix === 'memory.') {
    return refuse(
      400,
      'reserved_event_type',
      `type: ${shown} is reserved; clients may append memory.formed, memory.connected and memory.strength_changed`,
    )
  }
  if (prefix) {
    return refuse(400, 'reserved_event_type', `type: ${shown} is reserved: "${prefix}" events are recorded by the server`)
  }
  return undefined
}

/**
 * Checks one event a client wants to append and returns its data as it should be stored
 * (defaults applied, e.g. `importance: 0.5`). 413 only for size; everything else is 400.
 *
 * @example
 * const r = validateClientEvent('memory.formed', { memoryId: 'm1', content: 'x', importance: 2 })
 * // { ok: false, status: 400, code: 'invalid_event_data', message: 'data.importance: must be at most 1' }
 */
export function validateClientEvent(type: string, data: unknown): ValidationResult {
  const badType = checkClientType(type)
  if (badType) return badType
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return refuse(400, 'invalid_event_data', 'data: must be a JSON object')
  }
  let json: string
  try {
    json = JSON.stringify(data)
  } catch {
    return refuse(400, 'invalid_event_data', `data: must be plain JSON, nested at most ${MAX_DATA_DEPTH} levels deep`)
  }
  const bytes = Buffer.byteLength(json, 'utf8')
  if (bytes > MAX_DATA_BYTES) {
    return refuse(413, 'event_data_too_large', `data: is ${bytes} bytes as UTF-8 JSON; the limit is ${MAX_DATA_BYTES}`)
  }
  const unstorable = findUnstorable(data, MAX_DATA_DEPTH)
  if (unstorable) return refuse(400, 'invalid_event_data', `${formatPath(['data', ...unstorable.path])}: ${unstorable.problem}`)

  const schema = CLIENT_MEMORY_SCHEMAS[type as keyof typeof CLIENT_MEMORY_SCHEMAS]
  if (!schema) return { ok: true, data: data as Record<string, unknown> }
  const parsed = schema.safeParse(data, { reportInput: true })
  if (parsed.success) return { ok: true, data: parsed.data as Record<string, unknown> }
  return refuse(400, 'invalid_event_data', issuesMessage(parsed.error, { prefix: ['data'] }))
}
