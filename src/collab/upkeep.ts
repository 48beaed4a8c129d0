/**
 * A room's upkeep beside the pipeline (pipeline.ts): which reached decisions the server
 * accepts, when a snapshot is written, and waiting for the room to settle or catch up.
 * Nothing here appends a doc update: the decision rule hands its acceptances to the pipeline.
 */
import * as Y from 'yjs'
import { findReachedDecisions } from '../session/decisions.js'
import type { NewEvent } from '../store/types.js'
import { acceptanceUpdate, decisionReachedEvent } from './decisionRule.js'
import type { CollabContext, Room, SnapshotSource } from './types.js'

/** An acceptance to persist: the update that accepts the decision and its `decision.reached`. */
export interface Acceptance {
  decisionId: string
  update: Uint8Array
  reached: NewEvent
}

/**
 * The decision rule: the server accepts every open decision whose votes for one option
 * reached the quorum. Claims each one (`room.decisionsHandled`) and returns its acceptance;
 * a decision already claimed, or that cannot be accepted any more, is left out.
 */
export function claimReachedDecisions(room: Room): Acceptance[] {
  const acceptances: Acceptance[] = []
  for (const reached of findReachedDecisions(room.doc)) {
    if (room.decisionsHandled.has(reached.decisionId)) continue
    const update = acceptanceUpdate(room.doc, reached)
    if (!update) continue
    room.decisionsHandled.add(reached.decisionId)
    acceptances.push({ decisionId: reached.decisionId, update, reached: decisionReachedEvent(room.session, reached) })
  }
  return acceptances
}

/**
 * A snapshot is due after `snapshotEvery` updates, once those updates also amount to a
 * quarter of the last snapshot's size. Encoding a snapshot costs the whole document: by count
 * alone, a document growing by small updates is encoded ever more often relative to what
 * changed (profiled at one sender's full rate: 5.5% of the server, and a stall of the event
 * loop each time). With the bytes rule the snapshots of a growing document cost a constant
 * multiple of its size, and loading or `state?at=` replays at most a quarter of it on top.
 */
const SNAPSHOT_GROWTH = 4

/**
 * Writes a snapshot labelled with the feed's position P when the doc holds exactly
 * the `doc.update` events ≤ P: nothing of ours is unapplied, nothing applied lies beyond P.
 * `force` ignores when one is due (unloading, shutdown), and encodes in place.
 *
 * A large document (its last snapshot ≥ `snapshotOffThreadBytes`) is encoded on the worker
 * from that snapshot and the updates applied since (snapshotEncoder.ts); the room goes on
 * meanwhile, collecting the updates for the one after.
 */
export function maybeSnapshot(ctx: CollabContext, room: Room, force = false): boolean {
  if (room.inFlight > 0 || room.appliedPosition > room.caughtUpTo) return false
  if (room.caughtUpTo <= room.snapshotPosition) return false
  const due = room.sinceSnapshot >= ctx.config.snapshotEvery && room.sinceSnapshotBytes * SNAPSHOT_GROWTH >= room.snapshotBytes
  if (!force && !due) return false
  if (!force && room.snapshotJob) return false
  const label = { session: room.session, version: room.caughtUpVersion, position: room.caughtUpTo }
  const source = room.snapshotSource
  room.snapshotPosition = label.position
  room.sinceSnapshot = 0
  room.sinceSnapshotBytes = 0
  const started = performance.now()
  if (!force && source?.base) {
    encodeOffThread(ctx, room, label, source.base, source.updates)
    ctx.observe.snapshot('worker', performance.now() - started)
    return true
  }
  const state = Y.encodeStateAsUpdate(room.doc)
  ctx.observe.snapshot('in_place', performance.now() - started)
  room.snapshotBytes = state.length
  // A job still encoding an older snapshot sets no base once this one is taken.
  room.snapshotSource = state.length >= ctx.config.snapshotOffThreadBytes ? { base: state, updates: [] } : undefined
  save(ctx, room, { ...label, state })
  return true
}

function save(ctx: CollabContext, room: Room, snapshot: Parameters<CollabContext['store']['saveSnapshot']>[0]): Promise<void> {
  const saved = ctx.store.saveSnapshot(snapshot).catch((error: unknown) => {
    ctx.log.warn({ err: error, session: room.session }, 'writing a snapshot failed; the log still holds everything')
  })
  ctx.track(saved)
  return saved
}

function encodeOffThread(
  ctx: CollabContext, room: Room, label: { session: string; version: number; position: number },
  base: Uint8Array, updates: Uint8Array[],
): void {
  // What the doc knows now, to check the worker's rebuild against.
  const expected = Y.encodeStateVector(room.doc)
  const next: SnapshotSource = { base: undefined, updates: [] }
  room.snapshotSource = next
  const job = ctx.snapshots.encode(base, updates).then(async ({ state, vector }) => {
    if (!Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).equals(expected)) {
      throw new Error('the snapshot rebuilt on the worker does not match the document')
    }
    // A forced snapshot taken meanwhile (unloading) is newer: it set both already.
    if (room.snapshotSource === next) {
      next.base = state
      room.snapshotBytes = state.length
    }
    await save(ctx, room, { ...label, state })
  }).catch((error: unknown) => {
    // Nothing is lost (the log holds it all); the next snapshot is encoded in place.
    ctx.log.warn({ err: error, session: room.session }, 'encoding a snapshot off the event loop failed; the next one is encoded in place')
    if (room.snapshotSource === next) room.snapshotSource = undefined
  }).finally(() => {
    if (room.snapshotJob === job) room.snapshotJob = undefined
  })
  room.snapshotJob = job
  ctx.track(job)
}

/** Resolves when every update submitted so far has been applied (or given up). */
export async function settle(room: Room): Promise<void> {
  for (;;) {
    const tail = room.applyTail
    await tail
    if (tail === room.applyTail) return
  }
}

/** Resolves when the feed has passed everything the room applied, or after `ms`. */
export function caughtUp(room: Room, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (room.appliedPosition > room.caughtUpTo) return
      clearTimeout(timer)
      room.progressWaiters.delete(check)
      resolve()
    }
    const timer = setTimeout(() => {
      room.progressWaiters.delete(check)
      resolve()
    }, ms)
    room.progressWaiters.add(check)
    check()
  })
}
