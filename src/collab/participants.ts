/**
 * Who is in a room: `participant.joined` when a participant's first connection opens (with
 * `session.created` when the session is new), `participant.left` when its last one closes.
 * One participant's events are appended one after the other, so they reach the log in order.
 */
import type { AppendOptions, NewEvent } from '../store/types.js'
import { SERVER_ACTOR } from '../vocabulary.js'
import type { CollabContext, Connection, Room } from './types.js'

/**
 * Counts `conn` in; resolves once its participant's `participant.joined` is stored (and
 * with it the session, when new). Rejects when that append fails: close the connection.
 */
export function joinParticipant(ctx: CollabContext, room: Room, conn: Connection): Promise<void> {
  const { id } = conn.participant
  const present = room.participants.get(id)
  if (present) {
    present.connections.add(conn)
    return present.joined
  }
  const entry = { participant: conn.participant, connections: new Set([conn]), joined: Promise.resolve() }
  const ifNew: NewEvent[] | undefined = room.exists ? undefined : [{ type: 'session.created', data: {}, actor: SERVER_ACTOR }]
  entry.joined = appendInTurn(ctx, room, id, joinedOrLeft('participant.joined', conn), { ifNew }).then(
    () => {
      room.exists = true
    },
    (error: unknown) => {
      // Forget the participant: its connections close, and the next one tries again.
      if (room.participants.get(id) === entry) room.participants.delete(id)
      entry.connections.clear()
      throw error
    },
  )
  room.participants.set(id, entry)
  if (ifNew) {
    const creating = entry.joined.catch(() => {})
    room.creating = creating
    void creating.then(() => {
      if (room.creating === creating) room.creating = undefined
    })
  }
  return entry.joined
}

/** Counts `conn` out; records `participant.left` when it was the participant's last. */
export function leaveParticipant(ctx: CollabContext, room: Room, conn: Connection): void {
  const { id } = conn.participant
  const entry = room.participants.get(id)
  if (!entry || !entry.connections.delete(conn) || entry.connections.size > 0) return
  room.participants.delete(id)
  appendInTurn(ctx, room, id, joinedOrLeft('participant.left', conn)).catch((error: unknown) => {
    ctx.log.warn({ err: error, session: room.session, participant: id }, 'recording participant.left failed')
  })
}

function joinedOrLeft(type: 'participant.joined' | 'participant.left', conn: Connection): NewEvent {
  return { type, data: { participant: { ...conn.participant } }, actor: conn.actor }
}

/** Appends after the participant's previous joined/left append settled. */
function appendInTurn(ctx: CollabContext, room: Room, id: string, event: NewEvent, options?: AppendOptions): Promise<void> {
  const previous = room.presenceWrites.get(id) ?? Promise.resolve()
  const write = previous.then(async () => {
    ctx.pendingAppends += 1
    try {
      const result = await ctx.store.append(room.session, [event], options)
      if (!result.ok) throw new Error(`appending ${event.type} was refused: ${result.reason}`)
    } finally {
      ctx.pendingAppends -= 1
    }
  })
  const settled = write.catch(() => {})
  room.presenceWrites.set(id, settled)
  ctx.track(settled)
  void settled.then(() => {
    if (room.presenceWrites.get(id) === settled) room.presenceWrites.delete(id)
  })
  return write
}
