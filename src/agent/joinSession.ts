/**
 * `joinSession`: an agent (or any program) joins a mnemo session as a peer. The session
 * document arrives over a stock y-websocket provider; memory events, search and the context
 * summary go over the HTTP API through one ordered, retrying queue; presence rides on the
 * awareness protocol. Everything the connection and its requests produce is attributed by the
 * server to the token's identity (or open mode's), with this run's id.
 */
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { readState } from '../session/readState.js'
import type { SessionState } from '../session/schema.js'
import { sessionIdPattern } from '../vocabulary.js'
import { createDocOps, type DocOps } from './docOps.js'
import { MnemoError } from './errors.js'
import { followEvents, type EventsOptions } from './events.js'
import { createHttpClient, sleep, type RetryOptions } from './http.js'
import { createHttpOps, type HttpOps } from './httpOps.js'
import { httpIdentity, resolveIdentity, syncParams, type AgentIdentity } from './identity.js'
import { createProposalOps, type ProposalOps } from './proposals.js'
import { connectSync, type SyncConnection } from './sync.js'
import type { ChangeListener, EventEnvelope, LiveParticipant, Presence } from './types.js'

export interface JoinOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3001`. */
  url: string
  session: string
  /** A token from `npx mnemo token`; required when the server has `MNEMO_AUTH_SECRET`. */
  token?: string
  /** Open mode only (a token names its holder): default a random `agent-…` id, named after it, kind `agent`. */
  id?: string
  name?: string
  kind?: 'human' | 'agent'
  /** Groups this agent's work in the log; default a generated `run-…`. */
  run?: string
  /** Presence sent on connect; default `{ status: 'idle', focus: null }`. */
  presence?: Presence
  /** A WebSocket class for the provider; default Node's `ws`. */
  WebSocket?: unknown
  fetch?: typeof fetch
  /** How long to wait for the first sync before failing; default 15 000 ms. */
  syncTimeoutMs?: number
  retry?: RetryOptions
  /** How long `close()` waits for queued writes to be answered; default 5 000 ms. */
  closeTimeoutMs?: number
}

export type ConnectionStatus = 'connected' | 'connecting' | 'refused' | 'closed'

export interface AgentSession extends DocOps, HttpOps {
  /** The session id. */
  readonly session: string
  /** Who this SDK speaks as, and its run. */
  readonly me: AgentIdentity
  /** The live session document (read it with `state()`; edit it with the operations). */
  readonly doc: Y.Doc
  readonly awareness: Awareness
  /** Proposals: open, list, get, accept (humans), reject (see proposals.ts). */
  readonly proposals: ProposalOps
  /** The document as plain JSON. */
  state(): SessionState
  /** Everyone who took part (from the log) with the live presence of those connected. */
  participants(): Promise<LiveParticipant[]>
  /** Sets this agent's presence (merged into what it showed before). */
  presence(presence: Presence): void
  /** Calls `listener` after every change of the document; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void
  /** The session's events, live, resuming after a drop without gaps or duplicates. */
  events(options?: EventsOptions): AsyncGenerator<EventEnvelope, void, undefined>
  status(): ConnectionStatus
  /** Resolves once queued HTTP writes are answered and the document is in sync with the server. */
  flush(): Promise<void>
  /** Waits (up to `closeTimeoutMs`) for queued writes, then disconnects; pending calls reject with `closed`. */
  close(): Promise<void>
}

/**
 * Joins `session` and resolves once its document is synced.
 *
 * @example
 * const s = await joinSession({ url: 'http://127.0.0.1:3001', session: 'demo', token })
 * await s.explore('m-1', 'starting from the incident report', { rationale: 'it is the newest memory' })
 * await s.close()
 */
export async function joinSession(options: JoinOptions): Promise<AgentSession> {
  const { session, token } = options
  if (!sessionIdPattern.test(session)) {
    throw new MnemoError(400, 'invalid_session_id', `session "${session.slice(0, 140)}" must be 1 to 128 of A-Z a-z 0-9 _ -`)
  }
  // The same base URL serves HTTP and sync (the provider's ws(s):// is derived from it); a
  // ws:// one would sync, then leave every HTTP request retrying an unsupported scheme.
  if (!/^https?:\/\//.test(options.url)) {
    throw new MnemoError(400, 'invalid_url', `url must start with http:// or https:// (got "${options.url}")`)
  }
  const me = resolveIdentity(options)
  const http = createHttpClient({ baseUrl: options.url, identity: httpIdentity(me, token), fetch: options.fetch, retry: options.retry })
  let sync: SyncConnection
  try {
    sync = await connectSync({
      url: options.url,
      session,
      params: syncParams(me, token),
      WebSocket: options.WebSocket,
      timeoutMs: options.syncTimeoutMs ?? 15_000,
      presence: { status: 'idle', focus: null, ...options.presence },
    })
  } catch (error) {
    http.close()
    throw error
  }
  const { doc, awareness, provider } = sync
  const origin = { agent: me.id, run: me.run }
  let closed = false
  let applyingOwn = false
  const changeListeners = new Set<ChangeListener>()
  const onUpdate = (_update: Uint8Array, updateOrigin: unknown) => {
    if (changeListeners.size === 0) return
    const state = readState(doc)
    for (const listener of changeListeners) listener(state, { local: updateOrigin === origin || applyingOwn })
  }
  doc.on('update', onUpdate)

  function assertWritable(): void {
    if (closed) throw new MnemoError(0, 'closed', 'the session was closed; join it again to keep working')
    const refusal = sync.refusal()
    if (refusal) throw refusal
    if (me.role === 'viewer') throw new MnemoError(403, 'forbidden', `"${me.id}" holds a viewer token: it may read session "${session}" but not edit it`)
  }

  const httpOps = createHttpOps(http, session)

  /**
   * Applies what the server stored for one of our HTTP writes, as if the provider had
   * received it (its origin): the document shows it at once, and the provider, which sends
   * on every update but its own, does not send it back. Its later broadcast changes nothing.
   */
  function applyStored(update: string | null): void {
    if (update === null || closed) return
    applyingOwn = true
    try {
      Y.applyUpdate(doc, Buffer.from(update, 'base64'), provider)
    } finally {
      applyingOwn = false
    }
  }
  const writeDocument: HttpOps['writeDocument'] = async (ops, writeOptions) => {
    assertWritable()
    const result = await httpOps.writeDocument(ops, writeOptions)
    applyStored(result.update)
    return result
  }
  const docOps = createDocOps({
    doc, participantId: me.id, origin, assertWritable, appendEvent: httpOps.appendEvent,
    writeRemote: async (op, writeOptions) => (await writeDocument([op], writeOptions)).entries[0]!.key,
  })
  const head = () => http.request<{ position: number }>({ method: 'GET', path: `/api/sessions/${session}`, idempotent: true, what: 'session' })

  /** Resolves once the provider is synced and its socket has sent everything it holds. */
  async function documentSettled(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !(provider.synced && provider.ws && provider.ws.bufferedAmount === 0) && !sync.refusal()) {
      await sleep(10, signal)
    }
  }

  return {
    ...httpOps,
    ...docOps,
    writeDocument,
    session,
    me,
    doc,
    awareness,
    proposals: createProposalOps(http, session, applyStored),
    state: () => readState(doc),
    async participants() {
      const { participants } = await http.request<{ participants: LiveParticipant[] }>({
        method: 'GET', path: `/api/sessions/${session}`, idempotent: true, what: 'participants',
      })
      const live = new Map<string, Presence & { name?: string; kind?: string }>()
      for (const [clientId, state] of awareness.getStates()) {
        const user = clientId === doc.clientID ? me : (state.user as { id?: string; name?: string; kind?: string } | undefined)
        if (typeof user?.id !== 'string') continue
        live.set(user.id, { status: state.status, focus: state.focus, name: user.name, kind: user.kind })
      }
      const merged: LiveParticipant[] = participants.map((p) => {
        const presence = live.get(p.id)
        live.delete(p.id)
        return presence ? { ...p, online: true, presence: { status: presence.status, focus: presence.focus } } : p
      })
      for (const [id, { name, kind, status, focus }] of live) {
        merged.push({ id, name: name ?? id, kind: kind ?? 'human', online: true, presence: { status, focus } })
      }
      return merged
    },
    presence(presence) {
      if (closed) throw new MnemoError(0, 'closed', 'the session was closed')
      awareness.setLocalState({ ...awareness.getLocalState(), ...presence })
    },
    onChange(listener) {
      changeListeners.add(listener)
      return () => void changeListeners.delete(listener)
    },
    events: (eventOptions = {}) => followEvents(http, session, eventOptions, async () => (await head()).position),
    status() {
      if (closed) return 'closed'
      if (sync.refusal()) return 'refused'
      return provider.wsconnected && provider.synced ? 'connected' : 'connecting'
    },
    async flush() {
      await http.flush()
      await documentSettled(http.closed)
      const refusal = sync.refusal()
      if (refusal) throw refusal
    },
    async close() {
      if (closed) return
      closed = true
      const timeout = new AbortController()
      const timer = setTimeout(() => timeout.abort(), options.closeTimeoutMs ?? 5_000)
      await Promise.race([
        http.flush().then(() => documentSettled(timeout.signal)),
        new Promise((resolve) => timeout.signal.addEventListener('abort', resolve, { once: true })),
      ])
      clearTimeout(timer)
      timeout.abort()
      http.close()
      doc.off('update', onUpdate)
      changeListeners.clear()
      sync.destroy()
    },
  }
}
