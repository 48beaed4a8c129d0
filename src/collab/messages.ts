/**
 * What a room does with each y-websocket message from a joined connection: answers sync
 * step 1 from the persisted doc, persists new content of step 2 and updates (refusing
 * viewers', and those out of a scoped token's `can`: scope.ts), takes awareness and answers
 * query-awareness. A malformed message closes only its own connection; messages over its rate
 * are dropped, updates that would make the document too large refused (limits.ts), and those
 * over a token's budget refused (control/budgets.ts). A client of another dialect (types.ts
 * `Dialect`) gets its step 1 in answer to its own, and its updates acknowledged once stored.
 */
import * as Y from 'yjs'
import {
  decodeMessage, encodeSyncStep1, encodeSyncStep2, MESSAGE_AWARENESS, MESSAGE_QUERY_AWARENESS, MESSAGE_SYNC, SYNC_STEP1, SYNC_STEP2,
  SYNC_UPDATE, type Message,
} from '../protocol/messages.js'
import { ProtocolError } from '../protocol/ProtocolError.js'
import { closeConnection, countRefusal, send } from './connection.js'
import { hasNewContent } from './hasNewContent.js'
import { persistClientUpdate } from './pipeline.js'
import { admitMessage, docWouldExceed, reserveDocBytes, resyncAfterDrop } from './limits.js'
import { scopeRefusal } from './scope.js'
import type { CollabContext, Connection, Room } from './types.js'

/** The server's opening: its sync step 1 (unless its dialect waits for the client's), then the awareness states it holds. */
export function greet(ctx: CollabContext, room: Room, conn: Connection): void {
  if (!conn.socket.dialect?.step1InAnswer) send(ctx, conn, encodeSyncStep1(Y.encodeStateVector(room.doc)))
  const states = room.presence.states()
  if (states) send(ctx, conn, states)
}

/**
 * A frame whose answer only reads the room: sync step 1 and query-awareness. These are answered
 * before the sender's `participant.joined` is stored; the rest of its frames wait for that.
 */
export function readsOnly(frame: Uint8Array): boolean {
  return (frame[0] === MESSAGE_SYNC && frame[1] === SYNC_STEP1) || frame[0] === MESSAGE_QUERY_AWARENESS
}

/** Handles one binary frame; never throws (a bug closes this connection with 1011). */
export function handleFrame(ctx: CollabContext, room: Room, conn: Connection, frame: Uint8Array): void {
  if (conn.closed) return
  // Before decoding, so a flood costs little.
  if (!withinRate(ctx, room, conn, frame[0] === MESSAGE_AWARENESS ? 'awareness' : 'update')) {
    if (frame[0] === MESSAGE_SYNC && (frame[1] === SYNC_STEP2 || frame[1] === SYNC_UPDATE)) conn.unacknowledged += 1
    return
  }
  try {
    handleMessage(ctx, room, conn, decodeMessage(frame, { maxBytes: ctx.config.maxMessageBytes }))
  } catch (error) {
    if (error instanceof ProtocolError) {
      ctx.log.info({ session: room.session, participant: conn.participant.id, code: error.code, reason: error.message }, 'refused a message')
      closeConnection(conn, error.code, error.message)
      return
    }
    ctx.log.error({ err: error, session: room.session, participant: conn.participant.id }, 'handling a message failed')
    closeConnection(conn, 1011, 'internal error, reconnect')
  }
}

function handleMessage(ctx: CollabContext, room: Room, conn: Connection, message: Message): void {
  switch (message.kind) {
    case 'sync-step1':
      // Hocuspocus' order: the client answers our step 1 with its step 2, which we acknowledge.
      if (conn.socket.dialect?.step1InAnswer) send(ctx, conn, encodeSyncStep1(Y.encodeStateVector(room.doc)))
      send(ctx, conn, encodeSyncStep2(Y.encodeStateAsUpdate(room.doc, message.stateVector)))
      return
    case 'sync-step2': {
      // It carries every update of the client's dropped before it: acknowledged with it.
      const count = 1 + conn.unacknowledged
      conn.unacknowledged = 0
      receiveUpdate(ctx, room, conn, message.update, count)
      return
    }
    case 'update':
      receiveUpdate(ctx, room, conn, message.update, 1)
      return
    case 'awareness':
      if (!room.presence.receive(conn, message.update)) {
        closeConnection(conn, 1008, `at most ${ctx.config.maxAwarenessPerConnection} awareness clients per connection`)
      }
      return
    case 'query-awareness': {
      const states = room.presence.states()
      if (states) send(ctx, conn, states)
      return
    }
    case 'auth':
      return // a client's permission-denied message tells the server nothing it acts on
  }
}

/**
 * Charges the message to the connection's rate. Over it, the message is dropped: an update is
 * sent again after a resync, awareness is renewed by the client anyway. A connection that keeps
 * flooding updates is closed with 4429; awareness is only dropped, because stock providers echo
 * every awareness change they receive, and a busy peer must not get them closed.
 */
function withinRate(ctx: CollabContext, room: Room, conn: Connection, channel: 'update' | 'awareness'): boolean {
  const admission = admitMessage(ctx.config, conn, channel)
  if (admission === 'accept') return true
  countRefusal(ctx, conn, admission === 'close' ? 'flood' : channel === 'update' ? 'rate' : 'awareness_rate')
  if (admission === 'close') {
    ctx.log.info({ session: room.session, participant: conn.participant.id }, 'closing a connection over the rate limit')
    closeConnection(conn, 4429, `over the rate limit of ${ctx.config.updatesPerSec} messages a second; slow down`)
  } else if (channel === 'update') {
    resyncAfterDrop(conn, () => {
      if (room.state === 'ready') send(ctx, conn, encodeSyncStep1(Y.encodeStateVector(room.doc)))
    })
  }
  return false
}

/** `acknowledgements`: what storing it confirms to a dialect that acknowledges (types.ts `Dialect`). */
function receiveUpdate(ctx: CollabContext, room: Room, conn: Connection, update: Uint8Array, acknowledgements: number): void {
  // Shutting down: dropping is safe, the client still has it and re-sends it on reconnect.
  if (room.state !== 'ready') return
  // Decoded once for both hasNewContent and the event's summary (persistUpdate), which run
  // now, synchronously, against the same doc state; only read, never integrated.
  const decoded = Y.decodeUpdate(update)
  // Step 2 of a reconnecting client repeats what the room has; a viewer's is empty.
  if (!hasNewContent(room.doc, update, decoded)) {
    acknowledgeInTurn(ctx, room, conn, acknowledgements)
    return
  }
  if (!conn.canWrite) {
    closeConnection(conn, 4403, 'viewers cannot edit this session')
    return
  }
  // A token scoped by `can` writes only where it may: the whole update is refused otherwise.
  const { scope, budget } = conn.identity
  if (scope) {
    const refusal = scopeRefusal(room.doc, decoded, scope, conn.participant.id)
    if (refusal) {
      ctx.log.info({ session: room.session, participant: conn.participant.id, reason: refusal }, 'refused an update out of its token\'s scope')
      countRefusal(ctx, conn, 'scope')
      closeConnection(conn, 4403, refusal)
      return
    }
  }
  if (docWouldExceed(room, update, ctx.config.maxDocBytes)) {
    ctx.log.warn({ session: room.session, participant: conn.participant.id, bytes: update.length }, 'refused an update: the document is full')
    closeConnection(conn, 4413, `the document would grow past ${ctx.config.maxDocBytes} bytes (MNEMO_MAX_DOC_BYTES)`)
    return
  }
  const charged = budget ? { events: 1, bytes: update.length } : undefined
  if (charged) {
    const over = ctx.budgets.charge(conn.identity, charged)
    if (over) {
      ctx.log.info({ session: room.session, participant: conn.participant.id, budget: over.budget }, 'refused an update over its token\'s budget')
      countRefusal(ctx, conn, 'budget')
      closeConnection(conn, 4429, over.message)
      return
    }
  }
  const applied = persistClientUpdate(ctx, room, update, { actor: conn.actor, from: conn, decoded, acknowledgements, charged })
  reserveDocBytes(room, update.length, applied)
}

/**
 * Acknowledges an update that needed no storing once everything the room accepted before it
 * is stored: acknowledgements are counted, not named, so they must not overtake one another.
 */
function acknowledgeInTurn(ctx: CollabContext, room: Room, conn: Connection, count: number): void {
  const dialect = conn.socket.dialect
  if (!dialect) return
  room.applyTail = room.applyTail.then(() => {
    try {
      if (!conn.closed) dialect.acknowledge(count)
    } catch (error) {
      // The chain carries the room's applies: it must never reject.
      ctx.log.error({ err: error, session: room.session }, 'acknowledging an update failed')
    }
  })
}
