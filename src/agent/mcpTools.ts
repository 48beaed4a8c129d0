/**
 * The MCP tools over an AgentSession: one per SDK operation, inputs as zod shapes (the MCP
 * SDK turns them into JSON Schema and checks calls against them), results as JSON text, and
 * failures as tool errors (`isError: true`) carrying the SDK's message.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { DocOp } from '../session/docOps.js'
import { MnemoError } from './errors.js'
import type { AgentSession } from './joinSession.js'
import type { DocWriteOptions } from './types.js'

const id = (what: string) => z.string().min(1).max(256).describe(what)
const unit = (what: string) => z.number().min(0).max(1).describe(what)
const rationale = z.string().max(2000).optional().describe('Why you are doing this, in a sentence; shown in the session timeline')
const basedOn = z.int().min(0).optional().describe(
  'The session version you last read (get_state\'s `version`). The write is then refused, naming who changed what and when, ' +
  'if someone else changed that entry since: read again and decide anew.')
const onConflict = z.enum(['propose']).optional().describe(
  '`propose`: if the write is stale (see basedOn), open it as a proposal instead, for a human to review and accept; ' +
  'the answer then names the proposal and the conflicts.')
const memoryId = id('The memory\'s id')

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }] }
}

/** A failure as a tool result the model can read: the message, and the code when it does not say it. */
export function toolError(error: unknown): CallToolResult {
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

/** Where tools are registered: an McpServer, or a wrapper of one (mcpAnySession.ts adds a `session` argument). */
export type ToolRegistry = Pick<McpServer, 'registerTool'>

export function registerSessionTools(server: ToolRegistry, s: AgentSession): void {
  const tool = server.registerTool.bind(server)

  /**
   * A document write, answered as `shape` says (given the key of the entry it wrote). With
   * `onConflict` it goes through `writeDocument`, whose answer tells a write that became a proposal.
   */
  async function write(op: DocOp, options: DocWriteOptions, shape: (key: string) => object, direct: () => Promise<string | void>): Promise<object> {
    if (options.onConflict === undefined) return shape((await direct()) ?? '')
    const answer = await s.writeDocument([op], options)
    const result = shape(answer.entries[0]?.key ?? '')
    if (!answer.proposal) return result
    return {
      proposal: answer.proposal.id, conflicts: answer.conflicts, proposed: result,
      note: 'The write was stale, so it was not applied: it is now a proposal for a human to review (get_proposal shows its diff).',
    }
  }

  tool('get_context', {
    description: 'A compact summary of the session: participants, selected memories, the exploration path, open annotations, decisions and recent memory events. Read this first.',
    inputSchema: { format: z.enum(['md', 'json']).optional().describe('md (default) for reading, json for structure') },
    annotations: READ,
  }, guarded(({ format }) => (format === 'json' ? s.context({ format: 'json' }) : s.context({ format: 'md' }))))

  tool('get_state', {
    description: 'The shared session document as JSON: selections, explorationPath, annotations, decisions (with their ids, options, votes), ' +
      'and `version`, the session version you read it at: pass it as `basedOn` to writes that rely on what you read.',
    annotations: READ,
  }, guarded(async () => {
    await s.flush()
    const { version } = await s.read()
    return { version, ...s.state() }
  }))

  tool('list_participants', {
    description: 'Everyone who took part in the session, who is online now, and their presence (status, focus).',
    annotations: READ,
  }, guarded(() => s.participants()))

  tool('select_memory', {
    description: 'Mark a memory as selected by you, so others see what you are working on.',
    inputSchema: { memoryId, rationale, basedOn, onConflict }, annotations: WRITE,
  }, guarded(({ memoryId, ...options }) =>
    write({ op: 'select', memoryId }, options, () => ({ selected: memoryId }), () => s.select(memoryId, options))))

  tool('deselect_memory', {
    description: 'Remove a memory\'s selection.',
    inputSchema: { memoryId, rationale, basedOn, onConflict }, annotations: WRITE,
  }, guarded(({ memoryId, ...options }) =>
    write({ op: 'deselect', memoryId }, options, () => ({ deselected: memoryId }), () => s.deselect(memoryId, options))))

  tool('explore_memory', {
    description: 'Add a step to the shared exploration path: you looked at this memory next.',
    inputSchema: { memoryId, note: z.string().max(2000).optional().describe('What you found there'), rationale, basedOn, onConflict }, annotations: WRITE,
  }, guarded(({ memoryId, note, ...options }) =>
    write(note === undefined ? { op: 'explore', memoryId } : { op: 'explore', memoryId, note }, options, () => ({ explored: memoryId }),
      () => s.explore(memoryId, note, options))))

  tool('annotate_memory', {
    description: 'Attach a note to a memory for everyone in the session. Returns the annotation id.',
    inputSchema: { target: id('The memory to annotate'), text: z.string().min(1).max(10_000).describe('The note'), rationale, basedOn, onConflict }, annotations: WRITE,
  }, guarded(({ target, text, ...options }) =>
    write({ op: 'annotate', target, text }, options, (key) => ({ annotationId: key }), () => s.annotate(target, text, options))))

  tool('resolve_annotation', {
    description: 'Mark an annotation as resolved.',
    inputSchema: { annotationId: id('The annotation id'), rationale, basedOn, onConflict }, annotations: WRITE,
  }, guarded(({ annotationId, ...options }) =>
    write({ op: 'resolve', annotationId }, options, () => ({ resolved: annotationId }), () => s.resolve(annotationId, options))))

  tool('propose_decision', {
    description: 'Open a decision for the session to vote on. It is accepted when one option gets `quorum` votes. Returns the decision id.',
    inputSchema: {
      question: z.string().min(1).max(2000).describe('The question'),
      options: z.array(z.string().min(1).max(256)).min(1).max(32).describe('The distinct options'),
      quorum: z.int().min(1).max(1000).describe('Votes for one option that accept it'),
      rationale,
      basedOn,
      onConflict,
    },
    annotations: WRITE,
  }, guarded(({ question, options: choices, quorum, ...options }) =>
    write({ op: 'propose', question, options: choices, quorum }, options, (key) => ({ decisionId: key }),
      () => s.propose({ question, options: choices, quorum }, options))))

  tool('vote', {
    description: 'Vote (or change your vote) on an open decision.',
    inputSchema: { decisionId: id('The decision id'), option: z.string().min(1).describe('One of the decision\'s options'), rationale, basedOn, onConflict },
    annotations: WRITE,
  }, guarded(({ decisionId, option, ...options }) =>
    write({ op: 'vote', decisionId, option }, options, () => ({ voted: option, decisionId }), () => s.vote(decisionId, option, options))))

  tool('reject_decision', {
    description: 'Reject an open decision (usually its creator does).',
    inputSchema: { decisionId: id('The decision id'), rationale, basedOn, onConflict }, annotations: WRITE,
  }, guarded(({ decisionId, ...options }) =>
    write({ op: 'reject', decisionId }, options, () => ({ rejected: decisionId }), () => s.reject(decisionId, options))))

  tool('blame', {
    description: 'For every entry of the document (each selection, exploration step, annotation, decision and vote): ' +
      'who created it and who changed it last, when, in which run, and why.',
    annotations: READ,
  }, guarded(() => s.blame()))

  tool('activity', {
    description: 'What was changed in the document, grouped by who (actor) and run, optionally only one actor\'s or run\'s, ' +
      'between two times: e.g. what an agent did in the last hour. Use `next` as `after` to read on.',
    inputSchema: {
      actor: id('Only this actor\'s changes (a participant id)').optional(),
      run: id('Only this run\'s changes').optional(),
      from: z.iso.datetime({ offset: true }).optional().describe('Changes recorded at or after this ISO 8601 date-time'),
      to: z.iso.datetime({ offset: true }).optional().describe('Changes recorded at or before this ISO 8601 date-time'),
      after: z.int().min(0).optional().describe('The `next` of the page before'),
      limit: z.int().min(1).max(10_000).optional().describe('Document updates read at most (default 1000)'),
    },
    annotations: READ,
  }, guarded((query) => s.activity(query)))

  tool('revert_run', {
    description: 'Take back every document change one run made (remove what it inserted, restore what it deleted, undo its map writes), ' +
      'keeping everyone else\'s later edits, and retract its memory events. An agent may revert only its own runs. ' +
      'Use dryRun first to see the diff: the entries that would be added, changed or removed.',
    inputSchema: {
      run: id('The run to revert (as activity and blame name it)'),
      dryRun: z.boolean().optional().describe('Only answer what would change; store nothing'),
      rationale,
    },
    annotations: { ...WRITE, destructiveHint: true },
  }, guarded(({ run, dryRun, rationale }) => s.revertRun(run, { dryRun, rationale })))

  tool('suspend_agent', {
    description: 'The kill switch: suspend an agent by id. Its connections close on every instance and its requests are refused ' +
      'until it is resumed. Allowed to an admin, or to the human the agent acts for (its onBehalfOf); an agent\'s own token is refused.',
    inputSchema: { agent: id('The agent id to suspend'), reason: z.string().max(2000).optional().describe('Why, recorded in the log') },
    annotations: { ...WRITE, destructiveHint: true },
  }, guarded(({ agent, reason }) => s.suspendAgent(agent, { reason })))

  tool('resume_agent', {
    description: 'Resume a suspended agent: an admin, or the human who suspended it.',
    inputSchema: { agent: id('The agent id to resume') },
    annotations: WRITE,
  }, guarded(({ agent }) => s.resumeAgent(agent)))

  registerProposalTools(server, s)
  registerMemoryTools(server, s)
}

/** One document operation, as `propose_changes` takes it (the operations of the document tools). */
const DocOpArg = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('select'), memoryId }),
  z.strictObject({ op: z.literal('deselect'), memoryId }),
  z.strictObject({ op: z.literal('explore'), memoryId, note: z.string().max(2000).optional() }),
  z.strictObject({ op: z.literal('annotate'), target: id('The memory to annotate'), text: z.string().min(1).max(10_000), id: id('The new annotation\'s id').optional() }),
  z.strictObject({ op: z.literal('resolve'), annotationId: id('The annotation id') }),
  z.strictObject({
    op: z.literal('propose'), question: z.string().min(1).max(2000), options: z.array(z.string().min(1).max(256)).min(1).max(32),
    quorum: z.int().min(1).max(1000), id: id('The new decision\'s id').optional(),
  }),
  z.strictObject({ op: z.literal('vote'), decisionId: id('The decision id'), option: z.string().min(1).max(256) }),
  z.strictObject({ op: z.literal('reject'), decisionId: id('The decision id') }),
])

function registerProposalTools(server: ToolRegistry, s: AgentSession): void {
  const tool = server.registerTool.bind(server)
  const proposalId = id('The proposal id')

  tool('propose_changes', {
    description: 'Propose changes to the shared document instead of making them: a set of operations kept apart from the live document, ' +
      'with a title and rationale, until a human accepts (or rejects) it. Returns the proposal id; get_proposal shows its diff.',
    inputSchema: {
      title: z.string().min(1).max(200).describe('What the proposal does, in a line'),
      ops: z.array(DocOpArg).min(1).max(100).describe('The operations, applied in order when it is accepted'),
      rationale,
      basedOn: z.int().min(0).optional().describe('The session version you read (get_state\'s `version`); entries others change after it are reported as conflicts'),
    },
    annotations: WRITE,
  }, guarded((proposal) => s.proposals.open(proposal)))

  tool('list_proposals', {
    description: 'The session\'s proposals, each with its status (open, accepted, rejected), author, diff against the live document and conflicts.',
    inputSchema: { status: z.enum(['open', 'accepted', 'rejected']).optional().describe('Only proposals in this status') },
    annotations: READ,
  }, guarded(({ status }) => s.proposals.list({ status })))

  tool('get_proposal', {
    description: 'One proposal: its operations, and its diff against the live document entry by entry (added, changed, removed; annotation text as a word diff), ' +
      'with the entries others changed since it was based (conflicts).',
    inputSchema: { proposalId },
    annotations: READ,
  }, guarded(({ proposalId }) => s.proposals.get(proposalId)))

  tool('accept_proposal', {
    description: 'Accept an open proposal: its changes are merged into the live document as one update by you. Only a human\'s token may accept; ' +
      'an agent is refused. Conflicts (entries others changed since its base) are reported; with onConflict "abort" they refuse it instead.',
    inputSchema: {
      proposalId,
      onConflict: z.enum(['apply', 'abort']).optional().describe('apply (default): merge anyway and report the conflicts; abort: refuse if there are any'),
      rationale,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
  }, guarded(({ proposalId, ...options }) => s.proposals.accept(proposalId, options)))

  tool('reject_proposal', {
    description: 'Reject an open proposal (a human), or withdraw one you opened: nothing of it reaches the document.',
    inputSchema: { proposalId, rationale },
    annotations: WRITE,
  }, guarded(({ proposalId, rationale }) => s.proposals.reject(proposalId, { rationale })))
}

function registerMemoryTools(server: ToolRegistry, s: AgentSession): void {
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
