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
import { concatUpdates } from '../protocol/updates.js'
import type { DocChange } from '../session/schema.js'
import { summarizeUpdate, type DecodedUpdate } from '../session/summarizeUpdate.js'
import type { AppendResult, EventMeta, NewEvent, StoredEvent } from '../store/types.js'
import type { WriteCost } from '../control/budgets.js'
import { SERVER_ACTOR, type Actor } from '../vocabulary.js'
import { closeConnection, send } from './connection.js'
import type { CollabContext, Connection, Room } from './types.js'
import { hasNewContent } from './hasNewContent.js'
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
  /** How many of `from`'s messages storing this confirms, for a dialect that acknowledges (types.ts `Dialect`). */
  acknowledgements?: number
  /** The update's summary, when the caller made it already against the room's current doc. */
  changes?: DocChange[]
  /** The `doc.update`'s meta (an HTTP write's rationale). */
  meta?: Partial<EventMeta>
  /** Stored only while the session is at this version (an HTTP write's guard); else nothing is. */
  expectedVersion?: number
  /** What the sender's budget was charged for it: given back when it is not stored (the sender re-sends it). */
  charged?: WriteCost
}

export type Outcome = { result: AppendResult } | { error: unknown }

/**
 * Appends `update` as a `doc.update` event now; applies and broadcasts it once stored.
 * Resolves, once that is done (or given up), with the store's answer. For the server's own
 * writes (decisions, HTTP document writes); a client's go through `persistClientUpdate`.
 */
export function persistUpdate(ctx: CollabContext, room: Room, update: Uint8Array, opts: PersistOptions): Promise<Outcome> {
  return appendUpdate(ctx, room, update, opts, [])
}

/**
 * A client's update: appended as a `doc.update`, applied and broadcast once stored. Resolves
 * once it is applied (or given up).
 *
 * A client's updates are stored one append at a time: those it sends while its previous one is
 * being stored are held, joined (`concatUpdates`, else `Y.mergeUpdates`; up to MERGE_MAX_BYTES
 * each) and stored as one `doc.update` once that append is stored and applied. Nobody has seen a held update, so holding
 * it loses nothing, and a client typing slower than a commit never has one held. A fast
 * sender's burst then costs one event, one apply and one frame to each receiver instead of
 * hundreds (bench:sync S3), while each stored event still holds only that client's edits.
 */
export function persistClientUpdate(
  ctx: CollabContext, room: Room, update: Uint8Array, opts: PersistOptions & { from: Connection },
): Promise<void> {
  const { from } = opts
  if (from.storing) return hold(room, from, update, opts)
  from.storing = true
  const applied = appendUpdate(ctx, room, update, opts, [performance.now()])
  void applied.then((outcome) => releaseHeld(ctx, room, from, wasStored(outcome)))
  return applied.then(() => {})
}

/** Merged updates stay small enough that one frame of them does not hold up a slow reader's check. */
const MERGE_MAX_BYTES = 64 * 1024

function hold(room: Room, from: Connection, update: Uint8Array, opts: PersistOptions): Promise<void> {
  let group = from.held.at(-1)
  if (!group || group.bytes + update.length > MERGE_MAX_BYTES) {
    let settle!: () => void
    const done = new Promise<void>((resolve) => { settle = resolve })
    let submit!: () => void
    const submitted = new Promise<void>((resolve) => { submit = resolve })
    group = { updates: [], bytes: 0, acknowledgements: 0, charged: { events: 0, bytes: 0 }, arrivedAt: [], done, settle, submit }
    from.held.push(group)
    // The room's chain waits for the group to be sent, so that whoever settles the room
    // (unloading, shutting down) waits for it too: a held update is never dropped because
    // its sender left.
    room.applyTail = room.applyTail.then(() => submitted)
  }
  group.updates.push(update)
  group.bytes += update.length
  group.acknowledgements += opts.acknowledgements ?? 0
  if (opts.charged) {
    group.charged.events += opts.charged.events
    group.charged.bytes += opts.charged.bytes
  }
  group.arrivedAt.push(performance.now())
  room.inFlight += 1 // the room stays loaded until it is stored
  return group.done
}

const wasStored = (outcome: Outcome): boolean => 'result' in outcome && outcome.result.ok

/**
 * The connection's append was stored and applied: its held updates go out next, a group per
 * event. Judged against the doc that now holds everything it sent before, like any update:
 * a group that adds nothing (a provider that sends an edit twice) is acknowledged, not stored.
 */
function releaseHeld(ctx: CollabContext, room: Room, from: Connection, stored: boolean): void {
  const groups = from.held.splice(0)
  from.storing = false
  for (const group of groups) room.inFlight -= group.updates.length
  // Not stored (storage failed, the connection is being closed): the client still has the
  // held updates and sends them again with its sync step 2 on reconnect.
  if (!stored || room.state === 'closed') {
    for (const group of groups) {
      if (group.charged.events > 0) ctx.budgets.refund(from.identity, group.charged)
      group.submit()
      group.settle()
    }
    return
  }
  let last: Promise<Outcome> | undefined
  for (const group of groups) {
    // A sender's updates follow one another, clock after clock: joined without decoding them
    // (concatUpdates); anything else (several clients' structs in one, a pure delete) merged.
    const merged = group.updates.length === 1 ? group.updates[0]! : concatUpdates(group.updates) ?? Y.mergeUpdates(group.updates)
    // Decoded once for both hasNewContent and the event's summary, which run now against the
    // same doc state (appendUpdate summarizes synchronously); only read, never integrated.
    const decoded = Y.decodeUpdate(merged)
    if (!hasNewContent(room.doc, merged, decoded)) {
      if (group.acknowledgements > 0 && !from.closed) from.socket.dialect?.acknowledge(group.acknowledgements)
      group.submit()
      group.settle()
      continue
    }
    const charged = group.charged.events > 0 ? group.charged : undefined
    last = appendUpdate(ctx, room, merged, { actor: from.actor, from, decoded, acknowledgements: group.acknowledgements, charged }, group.arrivedAt)
    group.submit()
    void last.then(() => group.settle())
  }
  if (!last) return
  from.storing = true
  void last.then((outcome) => releaseHeld(ctx, room, from, wasStored(outcome)))
}

function appendUpdate(
  ctx: CollabContext, room: Room, update: Uint8Array, opts: PersistOptions, arrivedAt: number[],
): Promise<Outcome> {
  const id = randomUUID()
  const event: NewEvent = {
    id,
    type: 'doc.update',
    data: { bytes: update.length, changes: opts.changes ?? changesOf(ctx, room, update, opts.decoded) },
    payload: update,
    actor: opts.actor,
    ...(opts.meta ? { meta: opts.meta } : {}),
  }
  room.ownIds.add(id)
  room.inFlight += 1
  ctx.pendingAppends += 1
  const from = opts.from
  const guard = opts.expectedVersion === undefined ? undefined : { expectedVersion: opts.expectedVersion }
  const settled: Promise<Outcome> = ctx.store.append(room.session, [event, ...(opts.with ?? [])], guard).then(
    (result) => {
      if (from) {
        const now = performance.now()
        for (const at of arrivedAt) ctx.observe.stored(now - at)
      }
      return { result }
    },
    (error: unknown) => ({ error }),
  )
  // Chained rather than awaited where it resolves: the room applies in submission order.
  const applied = room.applyTail.then(async () => {
    const outcome = await settled
    ctx.pendingAppends -= 1
    try {
      applyAppended(ctx, room, update, id, outcome, opts)
      if (from && 'result' in outcome) {
        const now = performance.now()
        for (const at of arrivedAt) ctx.observe.delivered(now - at)
      }
    } catch (error) {
      ctx.log.error({ err: error, session: room.session }, 'applying a stored update failed')
    } finally {
      room.inFlight -= 1
    }
    afterApply(ctx, room)
    return outcome
  })
  room.applyTail = applied.then(() => {})
  return applied
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
    // Not ok: a decision's fixed event id conflicts — another instance recorded it, and its
    // acceptance arrives through the feed — or an HTTP write's expected version moved on.
    else if (opts.decisionId) ctx.log.debug({ session: room.session, decisionId: opts.decisionId }, 'decision recorded by another instance')
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
  if (opts.from && opts.acknowledgements && !opts.from.closed) opts.from.socket.dialect?.acknowledge(opts.acknowledgements)
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
    void persistUpdate(ctx, room, update, { actor: SERVER_ACTOR, with: [reached], decisionId })
  }
  maybeSnapshot(ctx, room)
}

function changesOf(ctx: CollabContext, room: Room, update: Uint8Array, decoded: DecodedUpdate | undefined): DocChange[] {
  try {
    return summarizeUpdate(room.doc, update, decoded)
  } catch (error) {
    // The summary is for readers of the timeline; an update must not fail for want of one.
    ctx.log.warn({ err: error, session: room.session }, 'summarizing an update failed')
    return []
  }
}
