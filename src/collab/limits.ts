/**
 * Limits on what one sync connection may push into a room: a token bucket on its messages
 * (over the rate they are dropped, and a connection that keeps flooding is closed with 4429),
 * and the size of the session's document (an update that would grow it past the limit is refused).
 * What they remember lives on the records: `conn.rate` and `room.docSize` (types.ts).
 */
import * as Y from 'yjs'
import { createTokenBucket } from '../tokenBucket.js'
import type { Connection, DocSize, Room } from './types.js'

export interface MessageRateConfig {
  /** Messages a second one connection may send; 0: no limit. */
  updatesPerSec: number
  /** How many it may send at once above that rate. */
  updateBurst: number
}

/** Messages dropped within this window that make a connection a flooder. */
const FLOOD_WINDOW_MS = 10_000

/**
 * What to do with the connection's next message: `accept` it, `drop` it (over the rate), or
 * `close` the connection (4429), having dropped more than twice its burst of updates within
 * 10 s. Awareness messages have a bucket of their own and are only ever dropped: they are
 * ephemeral, and stock clients echo what others send, so a flood must not count against them.
 */
export function admitMessage(
  config: MessageRateConfig, conn: Connection, channel: 'update' | 'awareness' = 'update', now = Date.now(),
): 'accept' | 'drop' | 'close' {
  if (config.updatesPerSec === 0) return 'accept'
  const rate = (conn.rate ??= {
    updates: createTokenBucket(config.updatesPerSec, config.updateBurst, now),
    awareness: createTokenBucket(config.updatesPerSec, config.updateBurst, now),
    windowStart: now,
    droppedInWindow: 0,
  })
  if (channel === 'awareness') return rate.awareness.take(now) ? 'accept' : 'drop'
  if (rate.updates.take(now)) return 'accept'
  if (now - rate.windowStart > FLOOD_WINDOW_MS) {
    rate.windowStart = now
    rate.droppedInWindow = 0
  }
  rate.droppedInWindow += 1
  return rate.droppedInWindow > 2 * config.updateBurst ? 'close' : 'drop'
}

/**
 * After a drop, calls `resync` once the connection may send again. A dropped update would
 * otherwise be missing for good (the client believes it sent it) and hold back the client's
 * later updates; the server's sync step 1 makes the client send everything the room lacks.
 */
export function resyncAfterDrop(conn: Connection, resync: () => void, now = Date.now()): void {
  const rate = conn.rate
  if (!rate || rate.resyncTimer) return
  rate.resyncTimer = setTimeout(() => {
    rate.resyncTimer = undefined
    if (!conn.closed) resync()
  }, Math.max(1, rate.updates.waitMs(now)))
  rate.resyncTimer.unref()
}

/** Stops a pending resync (the connection is gone). */
export function forgetRate(conn: Connection): void {
  if (conn.rate?.resyncTimer) clearTimeout(conn.rate.resyncTimer)
  conn.rate = undefined
}

function docSizeOf(room: Room): DocSize {
  room.docSize ??= { applied: Y.encodeStateAsUpdate(room.doc).length, inFlight: 0 }
  return room.docSize
}

/**
 * Counts an update the pipeline applied to the room's doc (for the size limit and for
 * snapshots, upkeep.ts). (Not a `doc.on('update')`
 * listener: with one, Yjs encodes every transaction once more only to report it; profiled,
 * that was 7% of the server's time at one sender's full rate.)
 */
export function countApplied(room: Room, update: Uint8Array): void {
  if (room.docSize) room.docSize.applied += update.length
  room.sinceSnapshot += 1
  room.sinceSnapshotBytes += update.length
  // A small update is often a view into a pooled 8 KiB buffer: kept, it would keep the slab.
  room.snapshotSource?.updates.push(update.byteLength * 2 < update.buffer.byteLength ? update.slice() : update)
}

/**
 * Whether accepting `update` could grow the room's doc past `maxBytes` (its encoded state,
 * `Y.encodeStateAsUpdate`), counting the updates still being stored (`reserveDocBytes`).
 * A running sum keeps this cheap; it over-counts (deletions shrink a document, merged
 * structs encode smaller), so the document is measured exactly before anything is refused.
 */
export function docWouldExceed(room: Room, update: Uint8Array, maxBytes: number): boolean {
  if (!Number.isFinite(maxBytes)) return false
  const size = docSizeOf(room)
  if (size.applied + size.inFlight + update.length <= maxBytes) return false
  size.applied = Y.encodeStateAsUpdate(room.doc).length
  return size.applied + size.inFlight + update.length > maxBytes
}

/** Counts `bytes` accepted for the room's doc until `settled` (its update applied, or given up). */
export function reserveDocBytes(room: Room, bytes: number, settled: Promise<unknown>): void {
  const size = room.docSize
  if (!size) return // no limit
  size.inFlight += bytes
  const release = (): void => {
    size.inFlight -= bytes
  }
  void settled.then(release, release)
}
