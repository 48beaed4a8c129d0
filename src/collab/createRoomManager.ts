/**
 * The room manager: one room per loaded session, connections attached to it, rooms unloaded
 * after a grace period without connections, and a graceful shutdown (stop accepting, apply
 * pending appends, snapshot, close sockets with 1012 so clients reconnect elsewhere).
 */
import type * as Y from 'yjs'
import { onExpiry } from '../auth/expiry.js'
import type { Identity } from '../auth/identity.js'
import type { EventStore } from '../store/types.js'
import type { Participant } from '../vocabulary.js'
import { createBudgets, type Budgets } from '../control/budgets.js'
import { writeDocument, type DocumentWrite, type DocumentWriteResult } from './documentWrites.js'
import { storeComputedUpdate, type ComputedUpdate, type StoreUpdateResult } from './storeUpdate.js'
import { createUpdateFeed, type Tap } from './feed.js'
import type { PresenceBus } from './presenceBus.js'
import { createPresenceRelay } from './presenceRelay.js'
import { answerHeldPing, answerPing, closeConnection, connectionGone, countRefusal, createConnection, frameOf, queueFrame, takeQueued } from './connection.js'
import { greet, handleFrame, readsOnly } from './messages.js'
import { joinParticipant, leaveParticipant } from './participants.js'
import { forgetRate } from './limits.js'
import { loadRoom, unloadRoom } from './room.js'
import { createSnapshotEncoder } from './snapshotEncoder.js'
import {
  DEFAULT_ROOM_CONFIG, noObserver, silentLog, type CollabContext, type Connection, type Log, type Room,
  type RoomConfig, type SyncSocket, type UpdateObserver,
} from './types.js'
import { settle } from './upkeep.js'
import type { SharedLimits } from '../control/sharedLimits.js'

export interface RoomManagerOptions {
  store: EventStore
  log?: Log
  config?: Partial<RoomConfig>
  /** Timings of every client update (metrics). */
  observe?: UpdateObserver
  /** Carries presence to and from the other instances (README "Running several instances"). */
  presence?: { bus: PresenceBus; instanceId: string; timeoutMs: number; othersLive?: () => boolean }
  /** What tokens with a `budget` claim have written; share it with the HTTP routes. Default: the manager's own. */
  budgets?: Budgets
  /** Event types besides `doc.update` that the manager's feed reads, for `tap` (the agents' suspensions). */
  follow?: readonly string[]
  /** Counts the per-session connection cap across instances (Redis); absent, this instance counts its own. */
  sharedLimits?: SharedLimits
}

export interface RoomInfo {
  session: string
  connections: number
  participants: number
  /** The feed's position for the room: it holds every `doc.update` up to it. */
  position: number
  snapshotPosition: number
  pendingUpdates: number
  /** Awareness states held, and client ids the awareness remembers (a clock each, states or not). */
  awarenessStates: number
  awarenessClients: number
}

export interface RoomStats {
  rooms: number
  connections: number
  pendingAppends: number
}

export interface RoomManager {
  /** Takes over an accepted WebSocket for `session` (authorized by the caller). */
  attach(socket: SyncSocket, session: string, identity: Identity): void
  /** Online participants of a loaded room; empty when it is not loaded. */
  participants(session: string): Participant[]
  loadedRooms(): RoomInfo[]
  /** The live document of a loaded room: read it, never write it (writes bypass the log). */
  docOf(session: string): Y.Doc | undefined
  /**
   * While a client here opened `session` new and its `session.created` is being stored (the
   * client is synced meanwhile): settles once that write has (stored or failed). Else undefined.
   */
  creating(session: string): Promise<void> | undefined
  /**
   * Applies an HTTP caller's operations to the session's document (loading its room when
   * needed) as one `doc.update` through the room's pipeline; see documentWrites.ts.
   * The caller checked that the session exists.
   */
  writeDocument(session: string, write: DocumentWrite): Promise<DocumentWriteResult>
  /** Stores an update the server computed from the log (a revert) through the room's pipeline; see storeUpdate.ts. */
  storeComputedUpdate(session: string, write: ComputedUpdate): Promise<StoreUpdateResult>
  stats(): RoomStats
  /** How far the update feed has read the log; undefined before the first room started it. */
  feedPosition(): number | undefined
  /**
   * A tap on the manager's feed for a stream that is no room (the agents' stream): its events of
   * the followed types, in log order, with no query of its own (feed.ts).
   */
  tap(stream: string): Promise<Tap>
  /** Closes every connection of the identity `id`, on this instance; returns how many. */
  disconnect(id: string, code: number, reason: string): number
  /** Resolves when every update submitted so far is stored and applied, and background writes are done. */
  idle(): Promise<void>
  close(): Promise<void>
}

/**
 * @example
 * const rooms = createRoomManager({ store, log, config: { graceMs: 10_000 } })
 * attachSyncEndpoint(server, { rooms, authenticate, maxPayload: 1 << 20 })
 */
export function createRoomManager({
  store, log = silentLog, config = {}, observe = noObserver, presence, budgets = createBudgets(), follow = [], sharedLimits,
}: RoomManagerOptions): RoomManager {
  const background = new Set<Promise<unknown>>()
  const ctx: CollabContext = {
    store,
    log,
    config: { ...DEFAULT_ROOM_CONFIG, ...definedOnly(config) },
    feed: createUpdateFeed(store, (error) => log.error({ err: error }, 'handling a stored update failed'), ['doc.update', ...follow]),
    relay: presence ? createPresenceRelay({ ...presence, observe: (direction, n) => observe.presence(direction, n), log }) : undefined,
    pendingAppends: 0,
    observe,
    budgets,
    snapshots: createSnapshotEncoder(),
    track(work) {
      background.add(work)
      void work.finally(() => background.delete(work))
    },
  }
  const rooms = new Map<string, Room>()
  const loading = new Map<string, Promise<Room>>()
  const connections = new Set<Connection>()
  let closing = false

  /** The ready room of `session`, loading it (once, however many wait) when needed. */
  async function roomFor(session: string): Promise<Room> {
    for (;;) {
      if (closing) throw new ShuttingDown()
      const room = rooms.get(session)
      if (room?.state === 'ready') return room
      if (room?.unloaded) {
        await room.unloaded
        continue
      }
      let pending = loading.get(session)
      if (!pending) {
        pending = loadRoom(ctx, session).then(
          (loaded) => {
            loading.delete(session)
            rooms.set(session, loaded)
            return loaded
          },
          (error: unknown) => {
            loading.delete(session) // nothing kept: the next connection tries again
            throw error
          },
        )
        loading.set(session, pending)
      }
      await pending
    }
  }

  function attach(socket: SyncSocket, session: string, identity: Identity): void {
    const conn = createConnection(socket, identity)
    socket.on('error', (error) => log.debug({ err: error, session }, 'socket error'))
    if (closing) {
      closeConnection(conn, 1012, 'server shutting down, reconnect')
      return
    }
    connections.add(conn)
    let room: Room | undefined
    // Clients reconnect with a fresh token; whatever they had not stored yet they send again.
    const stopExpiry = onExpiry(identity, () => closeConnection(conn, 4401, 'token expired; reconnect with a fresh token'))
    conn.onGone = () => {
      stopExpiry()
      connections.delete(conn)
      forgetRate(conn)
      if (room) leave(room, conn)
    }
    socket.on('close', () => connectionGone(conn))
    socket.on('ping', (data) => answerPing(ctx, conn, data))
    socket.on('message', (data, isBinary) => {
      if (conn.closed) return
      if (!isBinary) return closeConnection(conn, 1007, 'the sync protocol is binary; text frames are refused')
      const frame = frameOf(data)
      if (room && (conn.joined || (conn.ready && readsOnly(frame)))) handleFrame(ctx, room, conn, frame)
      else if (!queueFrame(ctx, conn, frame)) closeConnection(conn, 1013, 'too many messages before the connection was set up (session loaded, participant recorded), reconnect')
    })
    roomFor(session).then(
      (ready) => {
        room = ready
        return join(ready, conn)
      },
      (error: unknown) => {
        if (error instanceof ShuttingDown) return closeConnection(conn, 1012, 'server shutting down, reconnect')
        log.error({ err: error, session }, 'loading a session failed')
        closeConnection(conn, 1011, `session ${session} could not be loaded; try again later`)
      },
    ).catch((error: unknown) => {
      log.error({ err: error, session }, 'joining a room failed')
      closeConnection(conn, 1011, 'internal error, reconnect')
    })
  }

  async function join(room: Room, conn: Connection): Promise<void> {
    if (conn.closed) return scheduleUnload(room)
    const max = ctx.config.maxConnectionsPerSession
    const full = () => {
      countRefusal(ctx, conn, 'connection_cap')
      closeConnection(conn, 4429, `session full: at most ${max} connections (MNEMO_MAX_CONNECTIONS_PER_SESSION)`)
    }
    if (room.connections.size >= max) return full()
    if (sharedLimits) {
      let admitted: boolean
      try {
        admitted = await sharedLimits.admitConnection(room.session, max)
      } catch (error) {
        // Redis away: this instance's own count (above) decides.
        sharedLimits.warn(error, 'the shared connection cap')
        admitted = true
      }
      if (admitted) conn.slot = true
      if (conn.closed) {
        releaseSlot(room, conn)
        return scheduleUnload(room)
      }
      if (!admitted) return full()
      if (room.connections.size >= max) {
        releaseSlot(room, conn)
        return full()
      }
    }
    room.connections.add(conn)
    if (room.unloadTimer) clearTimeout(room.unloadTimer)
    if (!room.exists && !conn.canWrite) {
      await room.creating
      if (conn.closed) return
      if (!room.exists) return closeConnection(conn, 4403, 'session does not exist')
    }
    // Reading records nothing: the client is answered (and synced) while its participant.joined
    // is stored, and in a new session its session.created with it (the document is empty: there
    // is nothing to lose). Its writes and awareness wait for that, so that nobody sees anything
    // of it before the log says it joined, and its edits follow its joined in the log. HTTP
    // reads of a session being created here wait for the write (sessionsBeingCreated.ts), so a
    // client who was synced finds the session over HTTP too.
    const stored = joinParticipant(ctx, room, conn).then(
      () => undefined,
      (error: unknown) => ({ error }),
    )
    answerReads(room, conn)
    const failed = await stored
    if (conn.closed) return
    if (failed) {
      log.warn({ err: failed.error, session: room.session }, 'recording participant.joined failed')
      return closeConnection(conn, 1011, 'storage unavailable, reconnect')
    }
    conn.joined = true
    for (const frame of takeQueued(conn)) handleFrame(ctx, room, conn, frame)
    answerHeldPing(ctx, conn)
  }

  /** Greets `conn` and from then on answers what only reads; the rest it sent waits in its queue. */
  function answerReads(room: Room, conn: Connection): void {
    conn.ready = true
    greet(ctx, room, conn)
    for (const frame of takeQueued(conn)) {
      if (readsOnly(frame)) handleFrame(ctx, room, conn, frame)
      else queueFrame(ctx, conn, frame)
    }
    answerHeldPing(ctx, conn)
  }

  function releaseSlot(room: Room, conn: Connection): void {
    if (!conn.slot) return
    conn.slot = false
    sharedLimits?.releaseConnection(room.session)
  }

  /** Runs an HTTP caller's write in the session's room (loading it), then lets an idle room unload. */
  async function inRoom<T>(session: string, work: (room: Room) => Promise<T>): Promise<T> {
    const room = await roomFor(session)
    try {
      return await work(room)
    } finally {
      scheduleUnload(room)
    }
  }

  function leave(room: Room, conn: Connection): void {
    releaseSlot(room, conn)
    if (!room.connections.delete(conn)) return
    room.presence.release(conn)
    leaveParticipant(ctx, room, conn)
    if (room.connections.size === 0) scheduleUnload(room)
  }

  function scheduleUnload(room: Room): void {
    if (closing || room.state !== 'ready' || room.connections.size > 0) return
    if (room.unloadTimer) clearTimeout(room.unloadTimer)
    room.unloadTimer = setTimeout(() => {
      if (room.state === 'ready' && room.connections.size === 0 && !room.writes?.pending) startUnload(room)
      else if (room.writes?.pending) scheduleUnload(room)
    }, ctx.config.graceMs)
    room.unloadTimer.unref()
  }

  function startUnload(room: Room, beforeClose?: () => void): Promise<void> {
    room.unloaded ??= unloadRoom(ctx, room, beforeClose)
      .catch((error: unknown) => log.error({ err: error, session: room.session }, 'unloading a room failed'))
      .finally(() => {
        if (rooms.get(room.session) === room) rooms.delete(room.session)
      })
    return room.unloaded
  }

  async function idle(): Promise<void> {
    do {
      await Promise.all([...rooms.values()].map(settle))
      await Promise.allSettled([...background])
    } while (ctx.pendingAppends > 0 || background.size > 0 || [...rooms.values()].some((r) => r.inFlight > 0))
  }

  async function close(): Promise<void> {
    closing = true
    await Promise.allSettled([...loading.values()])
    for (const conn of connections) {
      if (![...rooms.values()].some((room) => room.connections.has(conn))) closeConnection(conn, 1012, 'server shutting down, reconnect')
    }
    await Promise.all([...rooms.values()].map((room) => startUnload(room, () => {
      for (const conn of [...room.connections]) closeConnection(conn, 1012, 'server shutting down, reconnect')
    })))
    await idle()
    await ctx.feed.close()
    await ctx.relay?.close()
    await ctx.snapshots.close()
  }

  return {
    attach,
    participants: (session) => [...(rooms.get(session)?.participants.values() ?? [])].map((p) => ({ ...p.participant })),
    loadedRooms: () => [...rooms.values()].map((room) => ({
      session: room.session,
      connections: room.connections.size,
      participants: room.participants.size,
      position: room.caughtUpTo,
      snapshotPosition: room.snapshotPosition,
      pendingUpdates: room.inFlight,
      awarenessStates: room.presence.size(),
      awarenessClients: room.presence.awareness.meta.size,
    })),
    docOf: (session) => {
      const room = rooms.get(session)
      return room && room.state !== 'closed' ? room.doc : undefined
    },
    creating: (session) => rooms.get(session)?.creating,
    writeDocument: (session, write) => inRoom(session, (room) => writeDocument(ctx, room, write)),
    storeComputedUpdate: (session, write) => inRoom(session, (room) => storeComputedUpdate(ctx, room, write)),
    stats: () => ({ rooms: rooms.size, connections: connections.size, pendingAppends: ctx.pendingAppends }),
    feedPosition: () => ctx.feed.position(),
    tap: (stream) => ctx.feed.tap(stream),
    disconnect(id, code, reason) {
      let closed = 0
      for (const conn of [...connections]) {
        if (conn.identity.id !== id || conn.closed) continue
        closeConnection(conn, code, reason)
        closed += 1
      }
      return closed
    },
    idle,
    close,
  }
}

class ShuttingDown extends Error {}

/** `{ graceMs: undefined }` from an unset option must not erase the default. */
function definedOnly(config: Partial<RoomConfig>): Partial<RoomConfig> {
  return Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined))
}
