/**
 * The kill switch (README "Agents under control"): an identity suspended by
 * `POST /api/agents/:id/suspend` is refused everywhere until resumed. The log is the record and
 * the state: `agent.suspended` / `agent.resumed` events in the agents' stream — a stream of the
 * log that is no session (its id cannot be one), hash-chained like any other — folded into a map
 * at start, so a suspension outlives restarts. Every instance follows the stream through its room
 * manager's feed, which reads the log anyway (no query of its own): a suspension recorded on one
 * instance reaches the others as fast as a document update does, and, unlike a message on the
 * presence bus, cannot be missed by an instance that was briefly away — it catches up from the log.
 */
import type { Actor, EventStore, StoredEvent } from '../store/types.js'

/** The agents' stream: `:` keeps it out of the session ids (`^[A-Za-z0-9_-]{1,128}$`). */
export const AGENTS_STREAM = 'mnemo:agents'

export const SUSPENSION_TYPES = ['agent.suspended', 'agent.resumed'] as const

export interface Suspension {
  /** The suspended identity's id (a token's `sub`). */
  agent: string
  /** When it was recorded (ISO). */
  since: string
  by: Actor
  reason?: string
  /** The human the agent acted for when it was suspended, as its latest event in the log named it. */
  onBehalfOf?: string
  /** The `agent.suspended` event's position in the log. */
  position: number
}

/** What the feed hands over for one stream (collab/feed.ts `Tap`). */
export interface StreamTap {
  start(position: number, handler: (event: StoredEvent) => void): void
  stop(): void
}

export interface SuspensionsOptions {
  store: Pick<EventStore, 'append' | 'read'>
  /**
   * Taps the log for the agents' stream (`RoomManager.tap`). Without it only what this process
   * records is seen after start (one process alone, tests).
   */
  tap?: (stream: string) => Promise<StreamTap>
  /** Told of every suspension as it takes effect here: close the agent's connections on this instance. */
  onSuspended?(suspension: Suspension): void
  onError?(error: unknown): void
}

export interface Suspensions {
  /** The identity's suspension, or undefined: a lookup in memory, cheap enough for every request. */
  get(agent: string): Suspension | undefined
  /** Every suspension in force, oldest first. */
  list(): Suspension[]
  /** Records the suspension (nothing when the agent is suspended already) and applies it here before resolving. */
  suspend(agent: string, by: Actor, details?: { reason?: string; onBehalfOf?: string }): Promise<{ suspension: Suspension; recorded: boolean }>
  /** Records the end of the agent's suspension; `lifted` is undefined when it was not suspended. */
  resume(agent: string, by: Actor, details?: { reason?: string }): Promise<{ lifted: Suspension | undefined }>
  /** Calls `cut` when `agent` is suspended (an open stream ends); returns the stop function. */
  watch(agent: string, cut: (suspension: Suspension) => void): () => void
  close(): void
}

interface AgentState {
  suspension?: Suspension
  /** Position of the newest event applied for this agent: an older one arriving later is ignored. */
  position: number
}

const PAGE = 1000

function suspensionOf(event: StoredEvent, agent: string): Suspension {
  const suspension: Suspension = { agent, since: event.recordedAt, by: event.actor, position: event.position }
  if (typeof event.data.reason === 'string') suspension.reason = event.data.reason
  if (typeof event.data.onBehalfOf === 'string') suspension.onBehalfOf = event.data.onBehalfOf
  return suspension
}

/** Loads the suspensions from the log, then follows the agents' stream. */
export async function startSuspensions({ store, tap, onSuspended, onError = () => {} }: SuspensionsOptions): Promise<Suspensions> {
  const states = new Map<string, AgentState>()
  const watchers = new Map<string, Set<(suspension: Suspension) => void>>()

  /** Folds one event of the stream; `live`: tell the watchers (not while loading at start). */
  function apply(event: StoredEvent, live: boolean): void {
    const agent = event.data.agent
    if (typeof agent !== 'string' || !(SUSPENSION_TYPES as readonly string[]).includes(event.type)) return
    const current = states.get(agent)
    if (current && current.position >= event.position) return
    if (event.type === 'agent.resumed') {
      states.set(agent, { position: event.position })
      return
    }
    const suspension = suspensionOf(event, agent)
    states.set(agent, { suspension, position: event.position })
    if (!live || current?.suspension) return
    try {
      onSuspended?.(suspension)
      for (const cut of [...(watchers.get(agent) ?? [])]) cut(suspension)
    } catch (error) {
      onError(error)
    }
  }

  // Tapped before reading: whatever is committed meanwhile is in the read or in the tap.
  const tapped = await tap?.(AGENTS_STREAM)
  let position = 0
  try {
    for (;;) {
      const page = await store.read(AGENTS_STREAM, { after: position, limit: PAGE })
      for (const event of page) apply(event, false)
      if (page.length > 0) position = page.at(-1)!.position
      if (page.length < PAGE) break
    }
  } catch (error) {
    tapped?.stop()
    throw error
  }
  tapped?.start(position, (event) => apply(event, true))

  /** Appends one event to the stream and applies it here (the feed's copy is then ignored). */
  async function record(type: (typeof SUSPENSION_TYPES)[number], data: Record<string, unknown>, by: Actor): Promise<StoredEvent> {
    const result = await store.append(AGENTS_STREAM, [{ type, data, actor: by }])
    if (!result.ok) throw new Error(`recording ${type} failed: ${result.reason}`)
    const ref = result.events[0]!
    const [stored] = await store.read(AGENTS_STREAM, { after: ref.position - 1, limit: 1 })
    if (!stored || stored.id !== ref.id) throw new Error(`${type} at position ${ref.position} could not be read back`)
    apply(stored, true)
    return stored
  }

  return {
    get: (agent) => states.get(agent)?.suspension,
    list: () => [...states.values()].flatMap((s) => (s.suspension ? [s.suspension] : [])).sort((a, b) => a.position - b.position),
    async suspend(agent, by, { reason, onBehalfOf } = {}) {
      const current = states.get(agent)?.suspension
      if (current) return { suspension: current, recorded: false }
      const stored = await record('agent.suspended', { agent, ...(reason !== undefined && { reason }), ...(onBehalfOf !== undefined && { onBehalfOf }) }, by)
      return { suspension: suspensionOf(stored, agent), recorded: true }
    },
    async resume(agent, by, { reason } = {}) {
      const lifted = states.get(agent)?.suspension
      if (!lifted) return { lifted: undefined }
      await record('agent.resumed', { agent, ...(reason !== undefined && { reason }) }, by)
      return { lifted }
    },
    watch(agent, cut) {
      const set = watchers.get(agent) ?? new Set()
      set.add(cut)
      watchers.set(agent, set)
      return () => {
        set.delete(cut)
        if (set.size === 0 && watchers.get(agent) === set) watchers.delete(agent)
      }
    },
    close() {
      tapped?.stop()
      watchers.clear()
    },
  }
}

/** The refusal a suspended identity gets over HTTP (403 `agent_suspended`). */
export function suspendedMessage(s: Suspension): string {
  const why = s.reason === undefined ? '' : ` (${s.reason})`
  return `"${s.agent}" is suspended since ${s.since} by ${s.by.name}${why}; an admin or the human it acts for can resume it with POST /api/agents/${encodeURIComponent(s.agent)}/resume`
}

/** The close reason of its sync connections (4403; at most 123 bytes, so short). */
export function suspendedReason(s: Suspension): string {
  return `suspended: "${s.agent}" is suspended until resumed`
}
