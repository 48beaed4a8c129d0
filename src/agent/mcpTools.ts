/**
 * The MCP tools over an AgentSession: one per SDK operation, inputs as zod shapes (the MCP
 * SDK turns them into JSON Schema and checks calls against them), results as JSON text, and
 * failures as tool errors (`isError: true`) carrying the SDK's message.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { MnemoError } from './errors.js'
import type { AgentSession } from './joinSession.js'

const id = (what: string) => z.string().min(1).max(256).describe(what)
const unit = (what: string) => z.number().min(0).max(1).describe(what)
const rationale = z.string().max(2000).optional().describe('Why you are doing this, in a sentence; shown in the session timeline')
const memoryId = id('The memory\'s id')

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }] }
}

function toolError(error: unknown): CallToolResult {
  const message = error instanceof Error ? error.message : String(error)
  const code = error instanceof MnemoError && !message.includes(error.code) ? ` [${error.code}]` : ''
  return { isError: true, content: [{ type: 'text', text: `${message}${code}` }] }
}

/** Runs `fn`, turning anything it throws into a tool error the model can read and act on. */
const guarded = <A>(fn: (args: A) => Promise<unknown>) => async (args: A): Promise<CallToolResult> => {
  try {
    return ok(await fn(args))
  } catch (error) {
    return toolError(error)
  }
}

const READ = { readOnlyHint: true, openWorldHint: false }
const WRITE = { readOnlyHint: false, destructiveHint: false, openWorldHint: false }

export function registerSessionTools(server: McpServer, s: AgentSession): void {
  const tool = server.registerTool.bind(server)

  tool('get_context', {
    description: 'A compact summary of the session: participants, selected memories, the exploration path, open annotations, decisions and recent memory events. Read this first.',
    inputSchema: { format: z.enum(['md', 'json']).optional().describe('md (default) for reading, json for structure') },
    annotations: READ,
  }, guarded(({ format }) => (format === 'json' ? s.context({ format: 'json' }) : s.context({ format: 'md' }))))

  tool('get_state', {
    description: 'The shared session document as JSON: selections, explorationPath, annotations, decisions (with their ids, options, votes).',
    annotations: READ,
  }, guarded(async () => s.state()))

  tool('list_participants', {
    description: 'Everyone who took part in the session, who is online now, and their presence (status, focus).',
    annotations: READ,
  }, guarded(() => s.participants()))

  tool('select_memory', {
    description: 'Mark a memory as selected by you, so others see what you are working on.',
    inputSchema: { memoryId, rationale }, annotations: WRITE,
  }, guarded(async ({ memoryId, rationale }) => (await s.select(memoryId, { rationale }), { selected: memoryId })))

  tool('deselect_memory', {
    description: 'Remove a memory\'s selection.',
    inputSchema: { memoryId, rationale }, annotations: WRITE,
  }, guarded(async ({ memoryId, rationale }) => (await s.deselect(memoryId, { rationale }), { deselected: memoryId })))

  tool('explore_memory', {
    description: 'Add a step to the shared exploration path: you looked at this memory next.',
    inputSchema: { memoryId, note: z.string().max(2000).optional().describe('What you found there'), rationale }, annotations: WRITE,
  }, guarded(async ({ memoryId, note, rationale }) => (await s.explore(memoryId, note, { rationale }), { explored: memoryId })))

  tool('annotate_memory', {
    description: 'Attach a note to a memory for everyone in the session. Returns the annotation id.',
    inputSchema: { target: id('The memory to annotate'), text: z.string().min(1).max(10_000).describe('The note'), rationale }, annotations: WRITE,
  }, guarded(async ({ target, text, rationale }) => ({ annotationId: await s.annotate(target, text, { rationale }) })))

  tool('resolve_annotation', {
    description: 'Mark an annotation as resolved.',
    inputSchema: { annotationId: id('The annotation id'), rationale }, annotations: WRITE,
  }, guarded(async ({ annotationId, rationale }) => (await s.resolve(annotationId, { rationale }), { resolved: annotationId })))

  tool('propose_decision', {
    description: 'Open a decision for the session to vote on. It is accepted when one option gets `quorum` votes. Returns the decision id.',
    inputSchema: {
      question: z.string().min(1).max(2000).describe('The question'),
      options: z.array(z.string().min(1).max(256)).min(1).max(32).describe('The distinct options'),
      quorum: z.int().min(1).max(1000).describe('Votes for one option that accept it'),
      rationale,
    },
    annotations: WRITE,
  }, guarded(async ({ question, options, quorum, rationale }) => ({ decisionId: await s.propose({ question, options, quorum }, { rationale }) })))

  tool('vote', {
    description: 'Vote (or change your vote) on an open decision.',
    inputSchema: { decisionId: id('The decision id'), option: z.string().min(1).describe('One of the decision\'s options'), rationale },
    annotations: WRITE,
  }, guarded(async ({ decisionId, option, rationale }) => (await s.vote(decisionId, option, { rationale }), { voted: option, decisionId })))

  tool('reject_decision', {
    description: 'Reject an open decision (usually its creator does).',
    inputSchema: { decisionId: id('The decision id'), rationale }, annotations: WRITE,
  }, guarded(async ({ decisionId, rationale }) => (await s.reject(decisionId, { rationale }), { rejected: decisionId })))

  registerMemoryTools(server, s)
}

function registerMemoryTools(server: McpServer, s: AgentSession): void {
  const tool = server.registerTool.bind(server)
  const connection = z.strictObject({ to: id('The other memory'), strength: unit('0..1') })

  tool('form_memory', {
    description: 'Record something learned as a memory (memory.formed), optionally connected to existing memories. Returns its id.',
    inputSchema: {
      memoryId: id('Default: a new uuid').optional(),
      content: z.string().min(1).max(32_768).describe('What the memory says'),
      importance: unit('0..1, default 0.5').optional(),
      kind: z.string().min(1).max(64).optional().describe('e.g. fact, hypothesis, observation'),
      tags: z.array(z.string().min(1).max(64)).max(64).optional(),
      connections: z.array(connection).max(512).optional(),
      rationale,
    },
    annotations: WRITE,
  }, guarded(({ rationale, ...memory }) => s.formMemory(memory, { rationale })))

  tool('connect_memories', {
    description: 'Connect two memories with a strength (memory.connected).',
    inputSchema: { from: id('One memory'), to: id('The other memory'), strength: unit('0..1'), rationale }, annotations: WRITE,
  }, guarded(({ from, to, strength, rationale }) => s.connect(from, to, strength, { rationale })))

  tool('strengthen_connection', {
    description: 'Set a new strength for the connection between two memories (memory.strength_changed).',
    inputSchema: { from: id('One memory'), to: id('The other memory'), strength: unit('The new strength, 0..1'), rationale }, annotations: WRITE,
  }, guarded(({ from, to, strength, rationale }) => s.strengthen(from, to, strength, { rationale })))

  tool('run_cascade', {
    description: 'Spread activation from a memory through its connections and record the result (memory.cascade).',
    inputSchema: { memoryId, strength: unit('Starting activation; default the memory\'s importance').optional(), rationale }, annotations: WRITE,
  }, guarded(({ memoryId, strength, rationale }) => s.cascade(memoryId, strength, { rationale })))

  tool('record_turn', {
    description: 'Record a conversation turn (conversation.turn).',
    inputSchema: {
      role: z.enum(['user', 'assistant', 'system', 'agent']),
      content: z.string().max(32_768),
      turnIndex: z.int().min(0).optional(),
      rationale,
    },
    annotations: WRITE,
  }, guarded(({ role, content, turnIndex, rationale }) => s.turn(role, content, { turnIndex, rationale })))

  tool('search_memories', {
    description: 'Full-text search over the session\'s memories (web-search syntax: "a phrase", or, -word).',
    inputSchema: { query: z.string().min(1).max(1024), limit: z.int().min(1).max(100).optional() },
    annotations: { readOnlyHint: false, openWorldHint: false },
  }, guarded(({ query, limit }) => s.search(query, limit)))

  tool('list_memories', {
    description: 'The session\'s memory graph: every memory with its importance, and every connection with its strength.',
    annotations: READ,
  }, guarded(() => s.memories()))

  tool('read_events', {
    description: 'A page of the session\'s event log after a position. Use `next` as `after` to read on.',
    inputSchema: {
      after: z.int().min(0).optional().describe('Events after this position; default 0'),
      types: z.array(z.string().min(1)).optional().describe('e.g. ["memory.*", "conversation.turn"]'),
      limit: z.int().min(1).max(1000).optional(),
    },
    annotations: READ,
  }, guarded(({ after, types, limit }) => s.readEvents({ after, types, limit })))

  tool('set_presence', {
    description: 'Show the humans what you are doing: a status such as "thinking" or "reading", and the memory you focus on.',
    inputSchema: { status: z.string().max(64).optional(), focus: z.string().max(256).nullable().optional() },
    annotations: WRITE,
  }, guarded(async ({ status, focus }) => {
    s.presence({ ...(status !== undefined ? { status } : {}), ...(focus !== undefined ? { focus } : {}) })
    return { presence: { status, focus } }
  }))
}
