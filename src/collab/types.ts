/**
 * The vocabulary of rooms: their configuration, the plain records that hold a room's and a
 * connection's state beside the Y.Doc, and the context every collab module shares.
 */
import type * as Y from 'yjs'
import type { WriteCost } from '../control/budgets.js'
import type { Identity } from '../auth/identity.js'
import type { EventStore } from '../store/types.js'
import type { Actor, Participant } from '../vocabulary.js'
import type { Tap, UpdateFeed } from './feed.js'
import type { PresenceRelay } from './presenceRelay.js'
import type { SnapshotEncoder } from './snapshotEncoder.js'
import type { Awareness } from 'y-protocols/awareness'
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/messages.js'
import type { TokenBucket } from '../tokenBucket.js'
import type { Budgets } from '../control/budgets.js'

/** The logger surface collab uses (pino's satisfies it). */
export interface Log {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} }

export interface RoomConfig {
  /** Write a snapshot after this many applied updates. */
  snapshotEvery: number
  /**
   * A document whose snapshot is at least this large has its next ones encoded on a worker
   * thread (snapshotEncoder.ts), so encoding never holds the event loop; smaller ones are
   * encoded in place, where that takes a few milliseconds at most.
   */
  snapshotOffThreadBytes: number
  /** Unload a room when its last connection has been gone this long. */
  graceMs: number
  /** Close (1013) a connection whose unsent data exceeds this. */
  maxBufferedBytes: number
  /** Refuse (1009) larger messages. */
  maxMessageBytes: number
  /** Awareness client ids one connection may speak for. */
  maxAwarenessPerConnection: number
  /** Awareness states one room holds. */
  maxAwarenessPerRoom: number
  /** Awareness client ids one identity may speak for in a room, over all its connections. */
  maxAwarenessPerIdentity: number
  /** Bytes of awareness state (as JSON) one connection may hold; states beyond are dropped. */
  maxAwarenessBytesPerConnection: number
  /** Bytes of awareness state (as JSON) one room holds; states beyond are dropped. */
  maxAwarenessBytesPerRoom: number
  /** How long a released awareness client id stays its identity's (y-protocols' 30 s timeout). */
  awarenessOwnerMs: number
  /** Messages a second one connection may send (token bucket); 0: no limit. */
  updatesPerSec: number
  /** Messages one connection may send at once above that rate. */
  updateBurst: number
  /** Connections one room takes (4429 beyond). */
  maxConnectionsPerSession: number
  /** Refuse (4413) an update that would grow the document's encoded state past this. */
  maxDocBytes: number
}

export const DEFAULT_ROOM_CONFIG: RoomConfig = {
  snapshotEvery: 500,
  snapshotOffThreadBytes: 1024 * 1024,
  graceMs: 10_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxAwarenessPerConnection: 16,
  maxAwarenessPerRoom: 1000,
  maxAwarenessPerIdentity: 32,
  maxAwarenessBytesPerConnection: 64 * 1024,
  maxAwarenessBytesPerRoom: 8 * 1024 * 1024,
  awarenessOwnerMs: 30_000,
  // The server's defaults (200/s, burst 400) come from config.ts; a bare room manager
  // (tests, embedding) limits no rate unless told.
  updatesPerSec: 0,
  updateBurst: 400,
  maxConnectionsPerSession: 500,
  maxDocBytes: 64 * 1024 * 1024,
}

/** How to turn a WebSocket client away: the close code and reason (4401, 4403, …). */
export interface Refusal {
  close: { code: number; reason: string }
}

/**
 * What a room needs of a WebSocket: `ws`'s WebSocket provides it, and a test can put a
 * fake on a simulated network.
 */
export interface SyncSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'ping', listener: (data: Buffer) => void): unknown
  /** Answers a ping; absent where pings are the carrying socket's business (Hocuspocus' channels). */
  pong?(data: Buffer): void
  /** How the client's protocol departs from y-websocket's; absent: it is y-websocket. */
  readonly dialect?: Dialect
}

/**
 * What a room does differently for a client that speaks another dialect over the same
 * messages (Hocuspocus, hocuspocus.ts, is the one there is): framing is the socket's business,
 * these are the room's.
 */
export interface Dialect {
  /** The server's sync step 1 answers each of the client's, instead of opening the connection. */
  readonly step1InAnswer: boolean
  /** The client hears its own awareness back (Hocuspocus' provider drops a socket that hears nothing for 30 s). */
  readonly echoAwareness: boolean
  /**
   * Tells the client that `count` more of its updates and sync steps 2 are stored (or held
   * nothing new). Called in arrival order, never before what it confirms is in the log.
   */
  acknowledge(count: number): void
}

export interface ParticipantEntry {
  participant: Participant
  /** Its open connections in the room. */
  connections: Set<Connection>
  /** Settles when its `participant.joined` is stored (or failed). */
  joined: Promise<void>
}

export interface Connection {
  socket: SyncSocket
  identity: Identity
  actor: Actor
  participant: Participant
  canWrite: boolean
  /**
   * In its room: the server's sync step 1 went out, and what only reads (`readsOnly`) is answered
   * as it comes.
   */
  ready: boolean
  /**
   * Its participant's `participant.joined` is stored: from then on all its frames are handled as
   * they come; until then its writes and awareness wait in `queued`.
   */
  joined: boolean
  closed: boolean
  /** Frames that arrived before the room was ready, or (but what only reads) before it `joined`. */
  queued: Uint8Array[]
  queuedBytes: number
  /**
   * The latest ping that came while frames of this connection were queued: answered once they
   * are handled, so that a pong always follows the handling of every frame sent before its ping
   * (RFC 6455 lets one pong answer only the latest of several pings).
   */
  heldPing?: Buffer
  /** Awareness client ids this connection speaks for. */
  awarenessClients: Set<number>
  /** Called once when the connection is closed (by either side): the room's bookkeeping. */
  onGone?: () => void
  /** Its message rate (limits.ts); set by its first message where a rate limit applies. */
  rate?: ConnectionRate
  /** Holds one of its session's connection slots shared across instances (control/sharedLimits.ts). */
  slot?: boolean
  /**
   * Its updates dropped over the rate since its last sync step 2, which its dialect expects
   * acknowledged: the next step 2 carries them (the client sends it after those), so it
   * acknowledges them too.
   */
  unacknowledged: number
  /** One of its updates is being stored: later ones wait in `held` (pipeline.ts). */
  storing: boolean
  /** Updates it sent while `storing`, in groups each stored as one `doc.update` next. */
  held: HeldUpdates[]
}

/** Updates a connection sent while its previous one was being stored, merged into one when stored. */
export interface HeldUpdates {
  updates: Uint8Array[]
  bytes: number
  /** How many of the connection's messages storing them confirms (`PersistOptions.acknowledgements`). */
  acknowledgements: number
  /** What the sender's budget was charged for them (`PersistOptions.charged`). */
  charged: WriteCost
  /** performance.now() at each one's arrival (metrics). */
  arrivedAt: number[]
  /** Resolves once they are applied, or given up. */
  done: Promise<void>
  settle(): void
  /** They were appended (or given up): the room's apply chain waits for this. */
  submit(): void
}

/** What the rate limit remembers of one connection. */
export interface ConnectionRate {
  updates: TokenBucket
  awareness: TokenBucket
  /** Start of the window in which dropped updates count towards closing. */
  windowStart: number
  droppedInWindow: number
  /** Pending sync step 1 after a drop. */
  resyncTimer?: NodeJS.Timeout
}

/** What the document size limit knows of a room's doc (limits.ts). */
export interface DocSize {
  /** Encoded size when last measured, plus every update applied since: an upper estimate. */
  applied: number
  /** Updates accepted and still being stored: not in the document yet, but soon. */
  inFlight: number
}

/** What a large document's next snapshot is rebuilt from (upkeep.ts). */
export interface SnapshotSource {
  base: Uint8Array | undefined
  updates: Uint8Array[]
}

/** A room exists only once loaded; it then unloads (snapshot, stop) and is closed. */
export type RoomState = 'ready' | 'unloading' | 'closed'

export interface Room {
  session: string
  state: RoomState
  doc: Y.Doc
  presence: Presence
  connections: Set<Connection>
  /** The session has events (it was created). */
  exists: boolean
  /**
   * A writer's first `participant.joined` with the `session.created` before it, while it is being
   * stored: a viewer who comes meanwhile waits for it before being told the session does not exist.
   */
  creating?: Promise<void>
  /** Online participants by id. */
  participants: Map<string, ParticipantEntry>
  /** Per participant, the last joined/left append, so they reach the log in order. */
  presenceWrites: Map<string, Promise<unknown>>

  /** Position of the newest `doc.update` the feed passed (applied, or ours): the "subscription cursor". */
  caughtUpTo: number
  caughtUpVersion: number
  /** Position of the newest update this room appended and then applied. */
  appliedPosition: number
  /** Ids of `doc.update` events this room appended that the feed has not passed yet. */
  ownIds: Set<string>
  /** Appends of doc updates submitted and not yet applied (or given up). */
  inFlight: number
  /** Appends resolve into applies along this chain, in submission order. */
  applyTail: Promise<void>
  /** Updates applied since the last snapshot, and their bytes. */
  sinceSnapshot: number
  sinceSnapshotBytes: number
  snapshotPosition: number
  /** The size of the last snapshot this room wrote (0 before its first). */
  snapshotBytes: number
  /**
   * For a large document (`snapshotOffThreadBytes`): its last snapshot and every update
   * applied since, what the worker rebuilds the next snapshot from. `base` is undefined while
   * that snapshot is being encoded. Absent for a small document: it is encoded in place.
   */
  snapshotSource?: SnapshotSource
  /** A snapshot being encoded on the worker and stored; one at a time. */
  snapshotJob?: Promise<void>
  /** Decisions whose acceptance is being appended, or that are known to be recorded. */
  decisionsHandled: Set<string>
  /** This session's share of the manager's update feed. */
  tap?: Tap
  /** Stops relaying its presence to the other instances (presenceRelay.ts). */
  relayStop?: () => Promise<void>
  unloadTimer?: NodeJS.Timeout
  /** Set when unloading starts; resolves once the room has unloaded. */
  unloaded?: Promise<void>
  /** Wakes waiters for the feed's progress. */
  progressWaiters: Set<() => void>
  /** The doc's size (limits.ts); tracked from the first update checked against a finite limit. */
  docSize?: DocSize
  /** Writes made by the server for HTTP callers (documentWrites.ts), one after another. */
  writes?: DocumentWriter
}

/** What documentWrites.ts keeps of a room: its Yjs client id, its replica, and the chain its writes run along. */
export interface DocumentWriter {
  clientID: number
  /** A copy of the room's doc the writes are made on; never ahead of the room's but for the write being made. */
  replica?: Y.Doc
  tail: Promise<unknown>
  /** Writes queued or running: the room is not unloaded under them. */
  pending: number
}

/** A room's awareness, kept by presence.ts. */
export interface Presence {
  readonly awareness: Awareness
  /**
   * Applies a connection's awareness update (then broadcast to the others by the 'update'
   * listener). Entries for client ids another participant holds, or beyond the room's cap,
   * are dropped. False when the connection claims more ids than it may: close it.
   */
  receive(conn: Connection, update: Uint8Array): boolean
  /** Removes every state the connection spoke for, and tells the others. */
  release(conn: Connection): void
  /**
   * Applies the states another instance (`instance`, its id) sends for its own connections;
   * entries for client ids held here are dropped. Throws ProtocolError when malformed.
   */
  receiveRemote(instance: string, update: Uint8Array): void
  /** The client ids with a state that this instance's connections hold. */
  ownStates(): number[]
  /** Removes the other instances' states not refreshed since `before` (epoch ms), and all of `instance`'s when given. */
  expireRemote(before: number, instance?: string): void
  /** Number of states other instances hold. */
  remoteSize(): number
  /** All current states as one awareness update; undefined when there are none. */
  states(): Uint8Array | undefined
  /** Number of states held. */
  size(): number
  destroy(): void
}

/** What every collab module shares. */
export interface CollabContext {
  store: EventStore
  log: Log
  config: RoomConfig
  feed: UpdateFeed
  /** Presence to and from the other instances; absent on one instance alone. */
  relay?: PresenceRelay
  /** Appends submitted and not yet settled, across rooms. */
  pendingAppends: number
  /** Keeps background work (snapshots, presence events) for close() to wait on. */
  track(work: Promise<unknown>): void
  observe: UpdateObserver
  /** What tokens with a `budget` claim have written (shared with the HTTP routes). */
  budgets: Budgets
  /** Encodes large documents' snapshots off the event loop. */
  snapshots: SnapshotEncoder
}

/** The sync endpoints: y-websocket's `/sync/<session>` and Hocuspocus' `/hocuspocus` (a connection with a Dialect). */
export type SyncDoor = 'sync' | 'hocuspocus'

/**
 * Why a sync endpoint turned a client's message or connection away, as `mnemo_refusals_total`
 * counts it (README, Metrics): `rate` a message dropped over the connection's rate
 * (MNEMO_RATE_UPDATES_PER_SEC), `awareness_rate` an awareness message dropped over its own bucket,
 * `stateless_rate` a Hocuspocus stateless message dropped over the socket's, `flood` a connection
 * closed 4429 for flooding, `budget` an update over its token's `budget` (4429),
 * `connection_cap` a connection past MNEMO_MAX_CONNECTIONS_PER_SESSION (4429), `scope` an update
 * outside its token's `can` (4403).
 */
export type SyncRefusal = 'rate' | 'awareness_rate' | 'stateless_rate' | 'flood' | 'budget' | 'connection_cap' | 'scope'

/**
 * Told, for every update a client sent, how long after it arrived it was stored and how long
 * until it was applied and sent to the room (ms). For metrics; must be cheap.
 */
export interface UpdateObserver {
  stored(ms: number): void
  delivered(ms: number): void
  /**
   * A snapshot was written: encoded on the worker or in place, and how long that held the
   * event loop (ms; for the worker, checking and handing over its input).
   */
  snapshot(encoded: 'worker' | 'in_place', blockedMs: number): void
  /** A client's message or connection refused (SyncRefusal), at its door. */
  refused(door: SyncDoor, reason: SyncRefusal): void
  /** Presence messages sent to or received from the other instances (presenceRelay.ts). */
  presence(direction: 'sent' | 'received', messages: number): void
}

export const noObserver: UpdateObserver = { stored() {}, delivered() {}, snapshot() {}, refused() {}, presence() {} }
