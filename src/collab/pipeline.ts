/**
 * The pipeline: persist, then apply, then broadcast. An update is appended to the event store
 * as soon as it arrives (appends that arrive together share one transaction: the store's group
 * commit), and only once its append resolved is it applied to the room's doc and sent to the
 * other clients — in submission order, along one promise chain per room. Updates other writers
 * stored enter through the update feed (feed.ts, `receiveStored`). After every apply the room's
 * upkeep (upkeep.ts) runs: the decision rule, whose acceptances come back through here, and snapshots.
 */
import { randomUUID } from 'node:crypto'
import * as Y from 'yjs'
import { encodeUpdate } from '../protocol/messages.js'
import type { Change } from '../session/schema.js'
import { summarizeUpdate, type DecodedUpdate } from '../session/summarizeUpdate.js'
import type { AppendResult, NewEvent, StoredEvent } from '../store/types.js'
import type { WriteCost } from '../control/budgets.js'
import { SERVER_ACTOR, type Actor } from '../vocabulary.js'
import { closeConnection, send } from './connection.js'
import type { CollabContext, Connection, Room } from './types.js'
import { countApplied } from './limits.js'
import { claimReachedDecisions, maybeSnapshot } from './upkeep.js'

export interface PersistOptions {
  actor: Actor
  /** The sender: not echoed to, and closed when storage or yjs refuses its update. */
  from?: Connection
  /** Written in the same append, after the `doc.update` (a `decision.reached`). */
  with?: NewEvent[]
  /** The decision this update accepts. */
  decisionId?: string
  /** `Y.decodeUpdate(update)`, when the caller decoded it already against the room's current doc. */
  decoded?: DecodedUpdate
  /** What the sender's budget was charged for it: given back when it is not stored (the sender re-sends it). */
  charged?: WriteCost
}

type Outcome = { result: AppendResult } | { error: unknown }

/** Appends `update` as a `doc.update` event now; applies and broadcasts it once stored. */
export function persistUpdate(ctx: CollabContext, room: Room, update: Uint8Array, opts: PersistOptions): void {
  const arrivedAt = opts.from ? performance.now() : 0
  const id = randomUUID()
  const event: NewEvent = {
    id,
    type: 'doc.update',
    data: { bytes: update.length, changes: changesOf(ctx, room, update, opts.decoded) },
    payload: update,
    actor: opts.actor,
  }
  room.ownIds.add(id)
  room.inFlight += 1
  ctx.pendingAppends += 1
  const settled: Promise<Outcome> = ctx.store.append(room.session, [event, ...(opts.with ?? [])]).then(
    (result) => {
      if (opts.from) ctx.observe.stored(performance.now() - arrivedAt)
      return { result }
    },
    (error: unknown) => ({ error }),
  )
  // Chained rather than awaited where it resolves: the room applies in submission order.
  room.applyTail = room.applyTail.then(async () => {
    const outcome = await settled
    ctx.pendingAppends -= 1
    try {
      applyAppended(ctx, room, update, id, outcome, opts)
      if (opts.from && 'result' in outcome) ctx.observe.delivered(performance.now() - arrivedAt)
    } catch (error) {
      ctx.log.error({ err: error, session: room.session }, 'applying a stored update failed')
    } finally {
      room.inFlight -= 1
    }
    afterApply(ctx, room)
  })
}

function applyAppended(
  ctx: CollabContext, room: Room, update: Uint8Array, id: string, outcome: Outcome, opts: PersistOptions,
): void {
  if ('error' in outcome || !outcome.result.ok) {
    room.ownIds.delete(id)
    if (opts.from && opts.charged) ctx.budgets.refund(opts.from.identity, opts.charged)
    if ('error' in outcome) {
      // Nobody saw it, so nothing is lost: the sender re-sends it (sync step 2) on reconnect.
      ctx.log.warn({ err: outcome.error, session: room.session }, 'storing an update failed; closing its connection')
      if (opts.from) closeConnection(opts.from, 1011, 'storage unavailable, reconnect')
      if (opts.decisionId) room.decisionsHandled.delete(opts.decisionId) // try again later
    }
    // Not ok: only a decision's fixed event id conflicts — another instance recorded it,
    // and its acceptance arrives through the feed.
    else ctx.log.debug({ session: room.session, decisionId: opts.decisionId }, 'decision recorded by another instance')
    return
  }
  const position = outcome.result.events[0]!.position
  room.appliedPosition = Math.max(room.appliedPosition, position)
  try {
    Y.applyUpdate(room.doc, update, opts.from ?? SERVER_ACTOR)
  } catch (error) {
    // Stored already; loading skips such events the same way (see loadDocument).
    ctx.log.error({ err: error, session: room.session, position }, 'a stored update could not be applied')
    if (opts.from) closeConnection(opts.from, 1007, 'update could not be applied')
    return
  }
  countApplied(room, update)
  broadcast(ctx, room, encodeUpdate(update), opts.from)
}

/** The feed's handler for the room: its own events are skipped, others applied and sent to all. */
export function receiveStored(ctx: CollabContext, room: Room, event: StoredEvent): void {
  room.caughtUpTo = event.position
  room.caughtUpVersion = event.version
  if (!room.ownIds.delete(event.id) && event.payload && room.state !== 'closed') {
    try {
      Y.applyUpdate(room.doc, event.payload, 'store')
      countApplied(room, event.payload)
      broadcast(ctx, room, encodeUpdate(event.payload), undefined)
    } catch (error) {
      ctx.log.error({ err: error, session: room.session, position: event.position }, 'a stored update could not be applied')
    }
  }
  for (const wake of [...room.progressWaiters]) wake()
  afterApply(ctx, room)
}

/** Sends `frame` to every ready connection of the room but `except`. */
export function broadcast(ctx: CollabContext, room: Room, frame: Uint8Array, except: Connection | undefined): void {
  for (const conn of room.connections) if (conn.ready && conn !== except) send(ctx, conn, frame)
}

/**
 * The upkeep after anything was applied (and after loading): persists the acceptance of every
 * decision that reached its quorum, and writes a snapshot when one is due.
 */
export function afterApply(ctx: CollabContext, room: Room): void {
  if (room.state === 'closed') return
  for (const { decisionId, update, reached } of claimReachedDecisions(room)) {
    persistUpdate(ctx, room, update, { actor: SERVER_ACTOR, with: [reached], decisionId })
  }
  maybeSnapshot(ctx, room)
}

function changesOf(ctx: CollabContext, room: Room, update: Uint8Array, decoded: DecodedUpdate | undefined): Change[] {
  try {
    return summarizeUpdate(room.doc, update, decoded)
  } catch (error) {
    // The summary is for readers of the timeline; an update must not fail for want of one.
    ctx.log.warn({ err: error, session: room.session }, 'summarizing an update failed')
    return []
  }
}
