/**
 * An update the server computed elsewhere (a run's revert, from the log), stored as one
 * `doc.update` by the caller with events after it in the same append, only while the session is
 * still at the version it was computed at; then applied and broadcast like a peer's
 * (pipeline.ts). Queued behind the room's HTTP writes, so it never interleaves with one.
 */
import type { NewEvent, EventMeta } from '../store/types.js'
import type { Actor } from '../vocabulary.js'
import { docWouldExceed, reserveDocBytes } from './limits.js'
import { persistUpdate } from './pipeline.js'
import type { CollabContext, Room } from './types.js'
import { freshClientId } from '../session/clientIds.js'

export interface ComputedUpdate {
  actor: Actor
  /** Null: only `with` is stored (nothing of the document changes). */
  update: Uint8Array | null
  meta?: Partial<EventMeta>
  with: NewEvent[]
  /** The session version the update was computed at. */
  expectedVersion: number
}

export type StoreUpdateResult =
  | { ok: true; events: Array<{ id: string; version: number; position: number }> }
  | { ok: false; reason: 'moved' }
  | { ok: false; reason: 'too_large'; maxBytes: number }

export function storeComputedUpdate(ctx: CollabContext, room: Room, write: ComputedUpdate): Promise<StoreUpdateResult> {
  const writer = (room.writes ??= { clientID: freshClientId(room.doc), tail: Promise.resolve(), pending: 0 })
  writer.pending += 1
  const done = writer.tail.then(() => storeNow(ctx, room, write))
  writer.tail = done.catch(() => {}).finally(() => {
    writer.pending -= 1
  })
  return done
}

async function storeNow(ctx: CollabContext, room: Room, { actor, update, meta, with: after, expectedVersion }: ComputedUpdate): Promise<StoreUpdateResult> {
  if (!update) {
    const result = await ctx.store.append(room.session, after, { expectedVersion })
    if (result.ok) return { ok: true, events: result.events }
    if (result.reason === 'version_conflict') return { ok: false, reason: 'moved' }
    throw new Error(`storing ${after.map((e) => e.type).join(', ')} failed: ${result.message}`)
  }
  if (docWouldExceed(room, update, ctx.config.maxDocBytes)) return { ok: false, reason: 'too_large', maxBytes: ctx.config.maxDocBytes }
  const persisted = persistUpdate(ctx, room, update, { actor, meta, with: after, expectedVersion })
  reserveDocBytes(room, update.length, persisted)
  const outcome = await persisted
  if ('error' in outcome) throw outcome.error
  const { result } = outcome
  if (result.ok) return { ok: true, events: result.events }
  if (result.reason === 'version_conflict') return { ok: false, reason: 'moved' }
  throw new Error(`storing a computed update failed: ${result.message}`)
}
