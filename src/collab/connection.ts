/**
 * One client's WebSocket in a room: its identity, the frames that arrive before its room is
 * ready, and sending with back-pressure (a client that cannot keep up is closed rather than
 * buffered for without bound).
 */
import type { Identity } from '../auth/identity.js'
import { hasRole } from '../auth/roles.js'
import { toActor } from '../auth/identity.js'
import type { CollabContext, Connection, SyncRefusal, SyncSocket } from './types.js'

const OPEN = 1

/** A WebSocket close reason is at most 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123

export function createConnection(socket: SyncSocket, identity: Identity): Connection {
  return {
    socket,
    identity,
    actor: toActor(identity),
    participant: { id: identity.id, name: identity.name, kind: identity.kind },
    canWrite: hasRole(identity, 'editor'),
    ready: false,
    joined: false,
    closed: false,
    queued: [],
    queuedBytes: 0,
    awarenessClients: new Set(),
    storing: false,
    held: [],
    unacknowledged: 0,
  }
}

/** Counts a refusal of `conn`'s (mnemo_refusals_total) at its door: Hocuspocus' channels have a Dialect. */
export function countRefusal(ctx: CollabContext, conn: Connection, reason: SyncRefusal): void {
  ctx.observe.refused(conn.socket.dialect ? 'hocuspocus' : 'sync', reason)
}

/** Sends one frame, or closes the connection (1013) when too much is waiting to go out. */
export function send(ctx: CollabContext, conn: Connection, frame: Uint8Array): void {
  if (conn.closed || conn.socket.readyState !== OPEN) return
  if (conn.socket.bufferedAmount > ctx.config.maxBufferedBytes) {
    ctx.log.warn({ participant: conn.participant.id, buffered: conn.socket.bufferedAmount }, 'closing a connection that does not keep up')
    closeConnection(conn, 1013, 'too slow, reconnect')
    return
  }
  conn.socket.send(frame)
}

/**
 * Answers a ping once every frame that came before it is handled: at once when nothing is
 * queued, else when the queue is (`answerHeldPing`). Too much waiting to go out closes (1013).
 */
export function answerPing(ctx: CollabContext, conn: Connection, data: Buffer): void {
  if (conn.queued.length > 0) {
    conn.heldPing = data
    return
  }
  if (conn.closed || conn.socket.readyState !== OPEN || !conn.socket.pong) return
  if (conn.socket.bufferedAmount > ctx.config.maxBufferedBytes) {
    closeConnection(conn, 1013, 'too slow, reconnect')
    return
  }
  conn.socket.pong(data)
}

/** Answers the ping held while frames were queued, once none is. */
export function answerHeldPing(ctx: CollabContext, conn: Connection): void {
  const data = conn.heldPing
  if (data === undefined || conn.queued.length > 0) return
  conn.heldPing = undefined
  answerPing(ctx, conn, data)
}

/** Closes the socket with `code` and stops handling its frames. */
export function closeConnection(conn: Connection, code: number, reason: string): void {
  if (conn.closed) return
  try {
    conn.socket.close(code, truncateReason(reason))
  } catch {
    // A socket that is already gone has nothing left to close.
  }
  connectionGone(conn)
}

/**
 * Marks the connection closed and runs its room's bookkeeping once, without waiting for
 * the closing handshake (a client that never answers it would hold its presence for 30 s).
 */
export function connectionGone(conn: Connection): void {
  if (conn.closed) return
  conn.closed = true
  conn.ready = false
  conn.joined = false
  conn.queued = []
  conn.queuedBytes = 0
  conn.heldPing = undefined
  conn.onGone?.()
}

/** Queues a frame that arrived before the room was ready; false when the queue is full. */
export function queueFrame(ctx: CollabContext, conn: Connection, frame: Uint8Array): boolean {
  if (conn.queuedBytes + frame.length > ctx.config.maxBufferedBytes) return false
  conn.queued.push(frame)
  conn.queuedBytes += frame.length
  return true
}

/** Takes the queued frames out, oldest first. */
export function takeQueued(conn: Connection): Uint8Array[] {
  const frames = conn.queued
  conn.queued = []
  conn.queuedBytes = 0
  return frames
}

/** A ws message as one Uint8Array (`ws` hands over a Buffer, an ArrayBuffer or fragments). */
export function frameOf(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return data
}

export function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason)
  if (bytes.length <= MAX_REASON_BYTES) return reason
  // Cut on a character boundary: decoding drops a partial last character.
  return new TextDecoder().decode(bytes.subarray(0, MAX_REASON_BYTES - 1)).replace(/\uFFFD$/, '')
}
