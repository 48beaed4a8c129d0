/**
 * A room's life: loading a session's document (snapshot + tail) into a plain record beside
 * its Y.Doc, tapping the feed for the session's updates from other writers, and unloading with a
 * last snapshot. A load that fails yields no room at all, so an empty doc can never stand in
 * for a stored one.
 */
import { loadDocument } from '../replay/loadDocument.js'
import { createPresence } from './presence.js'
import { afterApply, broadcast, receiveStored } from './pipeline.js'
import type { CollabContext, Room } from './types.js'
import { caughtUp, maybeSnapshot, settle } from './upkeep.js'

/** How long unloading waits for the feed to pass the room's own updates. */
const CATCH_UP_MS = 2000

/** Loads `session` into a ready room; rejects when it cannot be loaded. */
export async function loadRoom(ctx: CollabContext, session: string): Promise<Room> {
  // Tapped before reading: an update committed meanwhile is in the read or in the tap.
  const tap = await ctx.feed.tap(session)
  let head: Awaited<ReturnType<typeof ctx.store.head>>
  let loaded: Awaited<ReturnType<typeof loadDocument>>
  try {
    // One statement for a new session (or one whose snapshot is up to date), two for the rest.
    const start = await ctx.store.headAndSnapshot(session)
    head = start.head
    loaded = await loadDocument(ctx.store, session, { keepSourceFrom: ctx.config.snapshotOffThreadBytes, start })
  } catch (error) {
    tap.stop()
    throw error
  }
  if (loaded.skipped.length > 0) {
    ctx.log.warn({ session, skipped: loaded.skipped }, 'stored updates that yjs refused were left out of the document')
  }
  // The presence broadcasts through the room it belongs to, which the closure finds later;
  // a sender whose dialect wants its own awareness back is not left out.
  const presence = createPresence(loaded.doc, ctx.config,
    (frame, except) => broadcast(ctx, room, frame, except?.socket.dialect?.echoAwareness ? undefined : except),
    ctx.relay ? (ids) => ctx.relay!.changed(room, ids) : undefined)
  const room: Room = {
    session,
    state: 'ready',
    doc: loaded.doc,
    presence,
    connections: new Set(),
    exists: head !== undefined,
    participants: new Map(),
    presenceWrites: new Map(),
    caughtUpTo: loaded.position,
    caughtUpVersion: loaded.version,
    appliedPosition: loaded.position,
    ownIds: new Set(),
    inFlight: 0,
    applyTail: Promise.resolve(),
    sinceSnapshot: loaded.replayed,
    sinceSnapshotBytes: 0,
    snapshotPosition: loaded.snapshotPosition,
    snapshotBytes: loaded.source?.base.length ?? 0,
    snapshotSource: loaded.source,
    decisionsHandled: new Set(),
    progressWaiters: new Set(),
  }
  room.tap = tap
  tap.start(loaded.position, (event) => receiveStored(ctx, room, event))
  if (ctx.relay) room.relayStop = await ctx.relay.attach(room)
  ctx.log.debug({ session, position: loaded.position, replayed: loaded.replayed }, 'room loaded')
  // A decision may have reached its quorum in updates written without a room (HTTP, import).
  afterApply(ctx, room)
  return room
}

/**
 * Unloads a room: waits for its appends to be applied and the feed to pass them,
 * writes a snapshot, then calls `beforeClose` (shutdown closes the sockets there) and stops.
 */
export async function unloadRoom(ctx: CollabContext, room: Room, beforeClose?: () => void): Promise<void> {
  if (room.unloadTimer) clearTimeout(room.unloadTimer)
  room.state = 'unloading'
  await settle(room)
  await caughtUp(room, CATCH_UP_MS)
  await settle(room) // the feed may have triggered the decision rule
  maybeSnapshot(ctx, room, true)
  beforeClose?.()
  room.state = 'closed'
  room.tap?.stop()
  await room.relayStop?.()
  await Promise.allSettled([...room.presenceWrites.values()])
  room.presence.destroy()
  room.doc.destroy()
  ctx.log.debug({ session: room.session, position: room.caughtUpTo }, 'room unloaded')
}
