/**
 * The server's memory behaviour over the event store: `previous` on strength changes,
 * automatic and requested cascades recorded as `memory.cascade`, search recorded as
 * `memory.retrieved`, the graph, and the facts behind an agent's context summary.
 */
import { randomUUID } from 'node:crypto'
import { autoCascadeSource, cascadeEventData, runCascade, shouldAutoCascade, type CascadeResult } from './cascade.js'
import type { CascadeConfig } from './config.js'
import { buildContext, type SessionContext } from './context.js'
import { linkKey } from './graph.js'
import { createGraphCache, type GraphCacheOptions } from './graphCache.js'
import { readContents, readGraphJson, readStrengths, type GraphJson } from './projectionQueries.js'
import { searchMemories, type SearchHit } from './search.js'
import { readRecentMemoryEvents } from './sessionFacts.js'
import type { RichTextField } from '../session/richText.js'
import type { SessionState } from '../session/schema.js'
import { toEnvelope } from '../store/rows.js'
import { findUnstorable } from './issues.js'
import { validateClientEvent } from './schemas.js'
import { formatPath } from '../zodIssues.js'
import type { Actor, AppendedRef, AppendResult, EventEnvelope, EventMeta, EventStore, NewEvent } from '../store/types.js'
import { SERVER_ACTOR, type SessionParticipant } from '../vocabulary.js'

/** Newest memory events in the context summary. */
const CONTEXT_EVENTS = 20

export interface MemoryServiceDeps {
  store: EventStore
  cascade: CascadeConfig
  /** Where a failure to record automatic cascades is reported (the trigger is already committed). */
  onCascadeError?(error: unknown, session: string): void
  cache?: GraphCacheOptions
}

export type CascadeOutcome =
  | { ok: true; event: EventEnvelope; result: CascadeResult }
  | { ok: false; reason: 'unknown_session' | 'unknown_memory' }

export type SearchOutcome =
  | { ok: true; results: SearchHit[]; event: AppendedRef }
  | { ok: false; reason: 'unknown_session' }

/** An event as a client sends it, through any door (HTTP, and so the SDK and MCP tools). */
export interface ClientEvent {
  id?: string
  type: string
  data: unknown
  meta?: Partial<EventMeta>
}

export type ClientAppendOutcome =
  | AppendResult
  /** `events[index]` was refused (a reserved type, bad memory data, too large): nothing was written. */
  | { ok: false; reason: 'invalid'; index: number; status: 400 | 413; code: string; message: string }

export interface MemoryService {
  /**
   * Appends client events to the session (created when new): validates them, prepares them
   * (`previous` on strength changes), appends them atomically and records the automatic
   * cascades they trigger.
   */
  appendClientEvents(
    session: string, events: ClientEvent[], options: { actor: Actor; expectedVersion?: number },
  ): Promise<ClientAppendOutcome>
  requestCascade(session: string, request: { memoryId: string; strength?: number }, actor: Actor): Promise<CascadeOutcome>
  search(session: string, query: string, limit: number, actor: Actor): Promise<SearchOutcome>
  /** Undefined when the session does not exist. */
  graph(session: string): Promise<GraphJson | undefined>
  /** The summary from the document's state and the participants (both read elsewhere) and the log's memory events. */
  context(session: string, facts: { state: SessionState; participants: SessionParticipant[]; richText?: RichTextField[] }): Promise<SessionContext>
}

const str = (v: unknown): v is string => typeof v === 'string'
const TRIGGER_TYPES = new Set(['memory.formed', 'memory.connected', 'memory.strength_changed'])

export function createMemoryService(deps: MemoryServiceDeps): MemoryService {
  const { store, cascade } = deps
  const db = store.driver
  const cache = createGraphCache(db, { ...deps.cache, recent: (after, through) => store.recentThrough(after, through) })
  const cascadeOf = (graph: Parameters<typeof runCascade>[0], source: string, strength?: number) =>
    runCascade(graph, { source, strength, decay: cascade.decay, min: cascade.min, maxDepth: cascade.maxDepth })

  async function appendOne(session: string, event: NewEvent): Promise<AppendedRef> {
    const result = await store.append(session, [event])
    if (!result.ok) throw new Error(`could not record ${event.type} in session ${session}: ${result.reason}`)
    return result.events[0]
  }

  /**
   * Gives every event its id (automatic cascades name their trigger by it) and adds
   * `previous` to `memory.strength_changed`: the pair's strength in the projection as
   * this request reads it, or after an earlier event of the same batch; null when the
   * pair was never connected. The hash covers `data`, so this happens before the append;
   * a concurrent writer changing the same pair in between is not seen.
   */
  async function prepareEvents(session: string, events: NewEvent[]): Promise<NewEvent[]> {
    const withIds = events.map((e) => (e.id ? e : { ...e, id: randomUUID() }))
    const changes = withIds.filter((e) => e.type === 'memory.strength_changed')
    if (changes.length === 0) return withIds
    const stored = await readStrengths(db, session, changes.map((e) => [String(e.data.from), String(e.data.to)] as const))
    const current = new Map(stored)
    return withIds.map((e) => {
      const d = e.data
      if (e.type === 'memory.formed' && str(d.memoryId) && Array.isArray(d.connections)) {
        for (const c of d.connections as { to: string; strength: number }[]) current.set(linkKey(d.memoryId, c.to), c.strength)
      } else if (e.type === 'memory.connected' && str(d.from) && str(d.to)) {
        current.set(linkKey(d.from, d.to), d.strength as number)
      } else if (e.type === 'memory.strength_changed' && str(d.from) && str(d.to)) {
        const key = linkKey(d.from, d.to)
        const previous = current.get(key) ?? null
        current.set(key, d.strength as number)
        return { ...e, data: { ...d, previous } }
      }
      return e
    })
  }

  /**
   * Records the automatic cascades of a committed append, in one append of their own:
   * `memory.formed` at or above the threshold, and `memory.connected` /
   * `memory.strength_changed` whose `from` memory is. Each runs over the graph as this
   * instance has the log now (the triggers included, at `through`). Never throws: the triggers are already committed,
   * and failing the request would only make the client resend them as duplicates.
   */
  async function recordCascades(session: string, events: NewEvent[], through: number): Promise<void> {
    try {
      const triggers = events.filter((e) => TRIGGER_TYPES.has(e.type))
      // A formation carries its own importance; only the other triggers need the graph to decide.
      const mayCascade = (e: NewEvent) =>
        e.type !== 'memory.formed' || shouldAutoCascade(e.data.importance as number | undefined, cascade.threshold)
      if (!triggers.some(mayCascade)) return
      // The graph with the triggers folded in: from this instance's memory of the log when it has them.
      const graph = await cache.graphOf(session, through)
      const cascades: NewEvent[] = []
      for (const trigger of triggers) {
        const source = autoCascadeSource(graph, trigger, cascade.threshold)
        if (source === undefined || !trigger.id) continue
        cascades.push({
          type: 'memory.cascade',
          data: cascadeEventData(source, trigger.id, cascadeOf(graph, source)),
          actor: SERVER_ACTOR,
          meta: { causationId: trigger.id, correlationId: trigger.meta?.correlationId ?? null },
        })
      }
      if (cascades.length === 0) return
      const result = await store.append(session, cascades)
      if (!result.ok) throw new Error(`recording ${cascades.length} cascades failed: ${result.reason}`)
    } catch (error) {
      deps.onCascadeError?.(error, session)
    }
  }

  return {
    async appendClientEvents(session, inputs, { actor, expectedVersion }) {
      const events: NewEvent[] = []
      for (const [index, input] of inputs.entries()) {
        const checked = validateClientEvent(input.type, input.data)
        if (!checked.ok) return { ok: false, reason: 'invalid', index, status: checked.status, code: checked.code, message: checked.message }
        const badMeta = input.meta && findUnstorable(input.meta, 2)
        if (badMeta) {
          return { ok: false, reason: 'invalid', index, status: 400, code: 'invalid_event_meta', message: `${formatPath(['meta', ...badMeta.path])}: ${badMeta.problem}` }
        }
        events.push({ id: input.id, type: input.type, data: checked.data, actor, meta: input.meta })
      }
      const prepared = await prepareEvents(session, events)
      const result = await store.append(session, prepared, { expectedVersion, ifNew: [{ type: 'session.created', data: {}, actor }] })
      if (result.ok && !result.duplicate) {
        let through = 0
        for (const ref of result.events) through = Math.max(through, ref.position)
        await recordCascades(session, prepared, through)
      }
      return result
    },

    async requestCascade(session, { memoryId, strength }, actor) {
      // The existence check and the graph in parallel: one round trip less on the way.
      const [head, graph] = await Promise.all([store.head(session), cache.graphOf(session)])
      if (!head) return { ok: false, reason: 'unknown_session' }
      if (!graph.memories.has(memoryId) && !graph.adjacency.has(memoryId)) return { ok: false, reason: 'unknown_memory' }
      const result = cascadeOf(graph, memoryId, strength)
      const ref = await appendOne(session, { type: 'memory.cascade', data: cascadeEventData(memoryId, null, result), actor })
      const [stored] = await store.read(session, { after: ref.position - 1, limit: 1 })
      return { ok: true, event: toEnvelope(stored), result }
    },

    async search(session, query, limit, actor) {
      const [head, results] = await Promise.all([store.head(session), searchMemories(db, session, query, limit)])
      if (!head) return { ok: false, reason: 'unknown_session' }
      const event = await appendOne(session, {
        type: 'memory.retrieved',
        data: { query, results: results.map((r) => ({ memoryId: r.memoryId, score: r.score })) },
        actor,
      })
      return { ok: true, results, event }
    },

    async graph(session) {
      const [head, graph] = await Promise.all([store.head(session), readGraphJson(db, session)])
      return head ? graph : undefined
    },

    async context(session, { state, participants, richText }) {
      const recentEvents = await readRecentMemoryEvents(store, session, CONTEXT_EVENTS)
      const ids = [...Object.keys(state.selections), ...state.explorationPath.map((s) => s.memoryId)]
      const memories = await readContents(db, session, ids)
      return buildContext({ session, participants, state, richText, recentEvents, memories }, { events: CONTEXT_EVENTS })
    },
  }
}
