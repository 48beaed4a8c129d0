/**
 * The SDK's operations over the HTTP API: memory events (formed, connected, strength
 * changed), conversation turns and any custom event, each with a client-generated id so the
 * queue may resend it; cascades, search, the context summary and the memory graph; document
 * writes (`POST …/doc`, guarded by `basedOn`), blame, activity, reverting a run, and the kill
 * switch (suspending and resuming an agent).
 */
import { randomUUID } from 'node:crypto'
import type { DocOp } from '../session/docOps.js'
import type { HttpClient } from './http.js'
import type {
  Activity, ActivityQuery, AgentSuspension, BlameEntry, DocWriteOptions, DocWriteResult, EventEnvelope, EventRef, MemoryGraph, NewMemory,
  RunRevert, SearchResult, SessionContext, SessionRead, WriteOptions,
} from './types.js'

export type TurnRole = 'user' | 'assistant' | 'system' | 'agent'

export interface HttpOps {
  /** Appends one event of any client type (`note.added`, `agent.plan`, …) with `meta.rationale`. */
  appendEvent(type: string, data: Record<string, unknown>, options?: WriteOptions): Promise<EventRef>
  formMemory(memory: NewMemory, options?: WriteOptions): Promise<{ memoryId: string; event: EventRef }>
  connect(from: string, to: string, strength: number, options?: WriteOptions): Promise<EventRef>
  strengthen(from: string, to: string, strength: number, options?: WriteOptions): Promise<EventRef>
  /** Runs and records a cascade from `memoryId`; resolves with the `memory.cascade` event. */
  cascade(memoryId: string, strength?: number, options?: WriteOptions): Promise<EventEnvelope>
  turn(role: TurnRole, content: string, options?: WriteOptions & { turnIndex?: number }): Promise<EventRef>
  search(query: string, limit?: number): Promise<SearchResult>
  context(options?: { format?: 'json' }): Promise<SessionContext>
  context(options: { format: 'md' }): Promise<string>
  memories(): Promise<MemoryGraph>
  /** One page of the session's events (the log read once; `events()` follows it live). */
  readEvents(options?: { after?: number; types?: string[]; limit?: number }): Promise<{ events: EventEnvelope[]; next: number | null }>
  /** The session as the server has it: its version (a write's `basedOn`), position and document. */
  read(): Promise<SessionRead>
  /**
   * Several document operations as one `doc.update` (`POST …/doc`), attributed to this agent
   * with `meta.rationale`; with `basedOn`, refused (MnemoError 409 `stale_write`, `details`
   * naming each entry, who changed it and when) when someone else changed an entry it writes since;
   * with `onConflict: 'propose'` it then opens a proposal instead (the answer's `proposal`).
   */
  writeDocument(ops: DocOp[], options?: DocWriteOptions): Promise<DocWriteResult>
  /** Who created and who last changed every entry of the document, when, in which run, why. */
  blame(): Promise<{ entries: BlameEntry[] }>
  /** The document changes grouped by actor and run; filter by actor, run, time. */
  activity(query?: ActivityQuery): Promise<Activity>
  /**
   * Takes back every document change of `run`, keeping everyone else's later edits, and
   * retracts its memory events (`POST …/runs/:run/revert`); with `dryRun`, answers the diff only.
   * An agent may revert only its own runs; a second revert of a run is MnemoError 409 `run_already_reverted`.
   */
  revertRun(run: string, options?: { dryRun?: boolean; rationale?: string }): Promise<RunRevert>
  /**
   * The kill switch (`POST /api/agents/:id/suspend`): the agent's connections close on every
   * instance and its requests are refused until resumed. Needs an admin token, or a human's
   * token for an agent acting on that human's behalf; otherwise MnemoError 403 `forbidden`.
   */
  suspendAgent(agent: string, options?: { reason?: string }): Promise<AgentSuspension>
  /** Lifts a suspension (`POST /api/agents/:id/resume`): an admin, or the human who suspended it. */
  resumeAgent(agent: string): Promise<AgentSuspension>
}

export function createHttpOps(http: HttpClient, session: string): HttpOps {
  const path = (rest: string) => `/api/sessions/${session}${rest}`

  async function appendEvent(type: string, data: Record<string, unknown>, options?: WriteOptions & { causationId?: string }): Promise<EventRef> {
    const meta: Record<string, unknown> = {}
    if (options?.rationale !== undefined) meta.rationale = options.rationale
    if (options?.causationId !== undefined) meta.causationId = options.causationId
    const body = { id: randomUUID(), type, data, ...(Object.keys(meta).length > 0 ? { meta } : {}) }
    const answer = await http.request<{ events: EventRef[] }>({
      method: 'POST', path: path('/events'), body, idempotent: true, what: `append ${type}`,
    })
    return answer.events[0]!
  }

  function context(options: { format: 'md' }): Promise<string>
  function context(options?: { format?: 'json' }): Promise<SessionContext>
  function context(options: { format?: 'md' | 'json' } = {}): Promise<SessionContext | string> {
    const format = options.format ?? 'json'
    return http.request({
      method: 'GET', path: path('/context'), query: { format }, idempotent: true, accept: format === 'md' ? 'text' : 'json', what: 'context',
    })
  }

  return {
    appendEvent,
    async formMemory({ memoryId = randomUUID(), ...rest }, options) {
      const data: Record<string, unknown> = { memoryId, ...rest }
      for (const key of Object.keys(data)) if (data[key] === undefined) delete data[key]
      return { memoryId, event: await appendEvent('memory.formed', data, options) }
    },
    connect: (from, to, strength, options) => appendEvent('memory.connected', { from, to, strength }, options),
    strengthen: (from, to, strength, options) => appendEvent('memory.strength_changed', { from, to, strength }, options),
    async cascade(memoryId, strength, options) {
      const event = await http.request<EventEnvelope>({
        method: 'POST', path: path('/cascades'), body: strength === undefined ? { memoryId } : { memoryId, strength },
        idempotent: false, what: 'cascade',
      })
      // The cascade request has no meta of its own: the rationale follows, caused by the cascade.
      if (options?.rationale !== undefined) {
        await appendEvent('agent.rationale', { action: 'cascade', memoryId }, { rationale: options.rationale, causationId: event.id })
      }
      return event
    },
    turn: (role, content, options) =>
      appendEvent('conversation.turn', options?.turnIndex === undefined ? { role, content } : { role, content, turnIndex: options.turnIndex }, options),
    search: (query, limit) =>
      http.request<SearchResult>({
        method: 'POST', path: path('/memories/search'), body: limit === undefined ? { query } : { query, limit },
        idempotent: false, what: 'search',
      }),
    context,
    memories: () => http.request<MemoryGraph>({ method: 'GET', path: path('/memories'), idempotent: true, what: 'memories' }),
    readEvents: ({ after, types, limit } = {}) =>
      http.request({
        method: 'GET', path: path('/events'), idempotent: true, what: 'readEvents',
        query: { after: after?.toString(), types: types?.length ? types.join(',') : undefined, limit: limit?.toString() },
      }),
    read: () => http.request<SessionRead>({ method: 'GET', path: path(''), idempotent: true, what: 'read' }),
    writeDocument: (ops, options = {}) =>
      http.request<DocWriteResult>({
        method: 'POST', path: path('/doc'), idempotent: false, what: ops.length === 1 ? ops[0]!.op : 'writeDocument',
        body: {
          ops,
          ...(options.basedOn !== undefined ? { basedOn: options.basedOn } : {}),
          ...(options.rationale !== undefined ? { rationale: options.rationale } : {}),
          ...(options.onConflict !== undefined ? { onConflict: options.onConflict } : {}),
          ...(options.title !== undefined ? { title: options.title } : {}),
        },
      }),
    blame: () => http.request({ method: 'GET', path: path('/blame'), idempotent: true, what: 'blame' }),
    revertRun: (run, { dryRun, rationale } = {}) =>
      http.request<RunRevert>({
        // Only a dry run is resent on a lost answer: a revert stored already would answer 409.
        method: 'POST', path: path(`/runs/${encodeURIComponent(run)}/revert`), idempotent: dryRun === true, what: 'revertRun',
        body: { ...(dryRun !== undefined ? { dryRun } : {}), ...(rationale !== undefined ? { rationale } : {}) },
      }),
    // Both are idempotent: a second suspend answers the suspension already recorded.
    suspendAgent: (agent, { reason } = {}) =>
      http.request<AgentSuspension>({
        method: 'POST', path: `/api/agents/${encodeURIComponent(agent)}/suspend`, idempotent: true, what: 'suspendAgent',
        body: reason !== undefined ? { reason } : {},
      }),
    resumeAgent: (agent) =>
      http.request<AgentSuspension>({ method: 'POST', path: `/api/agents/${encodeURIComponent(agent)}/resume`, idempotent: true, what: 'resumeAgent', body: {} }),
    activity: ({ actor, run, from, to, after, limit } = {}) =>
      http.request({
        method: 'GET', path: path('/activity'), idempotent: true, what: 'activity',
        query: {
          actor, run, from: from instanceof Date ? from.toISOString() : from, to: to instanceof Date ? to.toISOString() : to,
          after: after?.toString(), limit: limit?.toString(),
        },
      }),
  }
}
