/**
 * Document writes the server makes for an HTTP caller (`POST …/doc`): the operations applied
 * to the room's replica (below), so the room never shows what is not stored; the resulting
 * update, one `doc.update` attributed to the caller, through the same pipeline as a peer's
 * (stored, then applied and broadcast). A write that names `basedOn` is first checked against
 * the log: if someone else changed an entry it depends on after that version, nothing is
 * stored. The check and the append are one step: the append expects the version the check
 * read up to, and when the session moved on meanwhile, the check reads the new versions too.
 *
 * A room's HTTP writes run one after another under one Yjs client id of their own (a new one
 * per loaded room), on a replica of the room's document that holds nothing the room lacks:
 * brought up to date with the room's news before each write (a diff, not a copy: copying a
 * 10,000-entry document costs about 100 ms), and thrown away when a write it made is not
 * stored, to be copied anew for the next.
 *
 * A write with a `condition` (accepting a proposal) is likewise appended only at the version
 * the condition was judged at, and the condition's events go in the same append.
 */
import * as Y from 'yjs'
import { randomId } from '../session/randomId.js'
import { findStaleEntries, type StaleEntry } from '../replay/staleWrites.js'
import { freshClientId } from '../session/clientIds.js'
import { applyDocOp, entryOfOp, guardedEntries, type DocOp, type WrittenEntry } from '../session/docOps.js'
import type { DocChange } from '../session/schema.js'
import { summarizeUpdate } from '../session/summarizeUpdate.js'
import type { AppendedRef, NewEvent } from '../store/types.js'
import type { Actor } from '../vocabulary.js'
import { docWouldExceed, reserveDocBytes } from './limits.js'
import { persistUpdate } from './pipeline.js'
import type { CollabContext, DocumentWriter, Room } from './types.js'

export interface DocumentWrite {
  actor: Actor
  /** The participant id the operations write as: the `by`, `author`, `createdBy`, voter. */
  by: string
  ops: DocOp[]
  rationale?: string
  /** The session version the writer last read: its write is refused if it is stale. */
  basedOn?: number
  /** The `doc.update`'s `meta.causationId` (an accepted proposal's id). */
  causationId?: string
  /**
   * Judged against the log through version `through`, the version the write is then appended
   * at (judged again whenever the session moved on): a refusal stops the write, nothing stored;
   * otherwise its `with` events go in the same append, after the `doc.update` (alone when the
   * operations change nothing). `changed`: whether the operations make an update.
   */
  condition?: (through: number, changed: boolean) => Promise<WriteCondition>
}

export type WriteCondition = { ok: true; with?: NewEvent[] } | { ok: false; refusal: unknown }

export type DocumentWriteResult =
  | {
    ok: true
    /** Where the `doc.update` landed; the session's head when the operations changed nothing. */
    version: number
    position: number
    /** The Yjs update stored; undefined when the operations changed nothing. */
    update?: Uint8Array
    written: WrittenEntry[]
    changes: DocChange[]
    /** Where the condition's events landed. */
    with?: AppendedRef[]
  }
  | { ok: false; reason: 'refused'; refusal: unknown }
  | { ok: false; reason: 'invalid'; index: number; message: string }
  | { ok: false; reason: 'stale'; stale: StaleEntry[]; basedOn: number }
  | { ok: false; reason: 'ahead'; basedOn: number; version: number }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'busy'; attempts: number }
  | { ok: false; reason: 'too_large'; maxBytes: number }

/** Appends that found the session moved on, before the write gives up as `busy`. */
const MAX_ATTEMPTS = 10

/** Queues `write` behind the room's other HTTP writes and resolves with its outcome. */
export function writeDocument(ctx: CollabContext, room: Room, write: DocumentWrite): Promise<DocumentWriteResult> {
  const writer = (room.writes ??= { clientID: freshClientId(room.doc), tail: Promise.resolve(), pending: 0 })
  writer.pending += 1
  const done = writer.tail.then(() => writeNow(ctx, room, writer, write))
  writer.tail = done.catch(() => {}).finally(() => {
    writer.pending -= 1
  })
  return done
}

async function writeNow(ctx: CollabContext, room: Room, writer: DocumentWriter, write: DocumentWrite): Promise<DocumentWriteResult> {
  let head = await ctx.store.head(room.session)
  if (!head) return { ok: false, reason: 'not_found' }
  const { basedOn, by, condition } = write
  if (basedOn !== undefined && basedOn > head.version) return { ok: false, reason: 'ahead', basedOn, version: head.version }
  // New entries get their ids now, so that every entry the write touches is known before it is made.
  const ops = write.ops.map(withId)
  const guarded = ops.flatMap((op) => guardedEntries(entryOfOp(op)!, by))
  const checksStale = basedOn !== undefined && guarded.length > 0
  // Only a write that depends on entries (or on a condition) needs its check and its append to be one step.
  const guard = checksStale || condition !== undefined
  const staleSince = async (after: number, through: number): Promise<StaleEntry[]> =>
    checksStale ? findStaleEntries(ctx.store, room.session, { after, through, guarded, writer: by }) : []
  // Checked before the operations are tried: a stale write that cannot be done any more (its
  // decision was closed meanwhile, say) is refused as stale, which says who did it.
  let stale = await staleSince(basedOn ?? 0, head.version)
  if (stale.length > 0) return { ok: false, reason: 'stale', stale, basedOn: basedOn! }
  const built = build(room, writer, ops, by)
  if ('message' in built) return { ok: false, reason: 'invalid', ...built }
  const { update, written } = built
  if (!update && !condition) return { ok: true, version: head.version, position: head.position, written, changes: [] }
  if (update && docWouldExceed(room, update, ctx.config.maxDocBytes)) {
    dropReplica(writer)
    return { ok: false, reason: 'too_large', maxBytes: ctx.config.maxDocBytes }
  }
  const meta = write.rationale === undefined && write.causationId === undefined ? undefined : {
    ...(write.rationale !== undefined && { rationale: write.rationale }),
    ...(write.causationId !== undefined && { causationId: write.causationId }),
  }
  try {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const judged = condition ? await condition(head.version, update !== undefined) : undefined
      if (judged && !judged.ok) return { ok: false, reason: 'refused', refusal: judged.refusal }
      const extra = judged?.with ?? []
      const expectedVersion = guard ? head.version : undefined
      let result: Awaited<ReturnType<typeof ctx.store.append>>
      let changes: DocChange[] = []
      if (update) {
        // Summarized against the room's document as it is now, like a peer's update.
        changes = summarizeUpdate(room.doc, update)
        const persisted = persistUpdate(ctx, room, update, { actor: write.actor, meta, changes, expectedVersion, with: extra })
        reserveDocBytes(room, update.length, persisted)
        const outcome = await persisted
        if ('error' in outcome) throw outcome.error
        result = outcome.result
      } else {
        // Nothing to change: the condition's events alone, at the version it was judged at.
        result = extra.length === 0
          ? { ok: true, events: [], duplicate: false, version: head.version }
          : await ctx.store.append(room.session, extra, { expectedVersion })
      }
      if (result.ok) {
        if (!update) return { ok: true, version: head.version, position: head.position, written, changes, with: result.events }
        const event = result.events[0]!
        return { ok: true, version: event.version, position: event.position, update, written, changes, with: result.events.slice(1) }
      }
      if (result.reason !== 'version_conflict') throw new Error(`storing a document write failed: ${result.message}`)
      const moved = await ctx.store.head(room.session)
      if (!moved) return { ok: false, reason: 'not_found' }
      stale = await staleSince(head.version, moved.version)
      if (stale.length > 0) return { ok: false, reason: 'stale', stale, basedOn: basedOn! }
      head = moved
    }
    return { ok: false, reason: 'busy', attempts: MAX_ATTEMPTS }
  } finally {
    // Stored, the room has the update (the pipeline applied it before answering). Otherwise
    // the replica holds what the room lacks, and the update's clocks may be in the log: a new
    // replica, and a new client id.
    if (update && !holds(room.doc, update)) {
      dropReplica(writer)
      writer.clientID = freshClientId(room.doc)
    }
  }
}

/** `op` with the id of the entry it creates chosen, when it creates one. */
export function withId(op: DocOp): DocOp {
  if ((op.op === 'annotate' || op.op === 'propose') && op.id === undefined) return { ...op, id: randomId() }
  return op
}

/** The update the operations make on the replica, or the first one that cannot be done. */
function build(room: Room, writer: DocumentWriter, ops: DocOp[], by: string):
  { update?: Uint8Array; written: WrittenEntry[] } | { index: number; message: string } {
  const replica = replicaOf(room.doc, writer)
  const updates: Uint8Array[] = []
  const collect = (u: Uint8Array) => void updates.push(u)
  replica.on('update', collect)
  const written: WrittenEntry[] = []
  let failed: { index: number; message: string } | undefined
  try {
    const now = Date.now()
    replica.transact(() => {
      for (const [index, op] of ops.entries()) {
        try {
          written.push(applyDocOp(replica, op, by, undefined, now))
        } catch (error) {
          failed = { index, message: error instanceof Error ? error.message : String(error) }
          return
        }
      }
    })
  } finally {
    replica.off('update', collect)
  }
  if (failed) {
    // The operations before the failing one changed the replica; nothing of it was sent anywhere.
    if (updates.length > 0) dropReplica(writer)
    return failed
  }
  return { update: updates.length === 0 ? undefined : updates.length === 1 ? updates[0] : Y.mergeUpdates(updates), written }
}

/** The writer's replica of `doc`, made (a copy) or brought up to date (the diff since). */
function replicaOf(doc: Y.Doc, writer: DocumentWriter): Y.Doc {
  if (!writer.replica) {
    const replica = new Y.Doc()
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc))
    // Set after loading: a doc that receives structs of its own client id takes another one.
    replica.clientID = writer.clientID
    writer.replica = replica
    return replica
  }
  const news = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(writer.replica))
  Y.applyUpdate(writer.replica, news)
  return writer.replica
}

function dropReplica(writer: DocumentWriter): void {
  writer.replica?.destroy()
  writer.replica = undefined
}

/** Whether `doc` has every struct of `update` (its state vector covers the update's). */
function holds(doc: Y.Doc, update: Uint8Array): boolean {
  for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVectorFromUpdate(update))) {
    if (Y.getState(doc.store, client) < clock) return false
  }
  return true
}
