/**
 * Document writes the server makes for an HTTP caller (`POST …/doc`): the operations applied
 * to a scratch copy of the room's document, so the room never shows what is not stored; the
 * resulting update, one `doc.update` attributed to the caller, through the same pipeline as a
 * peer's (stored, then applied and broadcast). A write that names `basedOn` is first checked
 * against the log: if someone else changed an entry it depends on after that version, nothing
 * is stored. The check and the append are one step: the append expects the version the check
 * read up to, and when the session moved on meanwhile, the check reads the new versions too.
 *
 * A room's HTTP writes run one after another under one Yjs client id of their own (a new one
 * per loaded room), each starting from a document that holds the one before it.
 */
import { randomInt } from 'node:crypto'
import * as Y from 'yjs'
import { findStaleEntries, type StaleEntry } from '../replay/staleWrites.js'
import { applyDocOp, entryOfOp, guardedEntries, type DocOp, type WrittenEntry } from '../session/docOps.js'
import type { Change } from '../session/schema.js'
import { summarizeUpdate } from '../session/summarizeUpdate.js'
import type { Actor } from '../vocabulary.js'
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
}

export type DocumentWriteResult =
  | {
    ok: true
    /** Where the `doc.update` landed; the session's head when the operations changed nothing. */
    version: number
    position: number
    /** The Yjs update stored; undefined when the operations changed nothing. */
    update?: Uint8Array
    written: WrittenEntry[]
    changes: Change[]
  }
  | { ok: false; reason: 'invalid'; index: number; message: string }
  | { ok: false; reason: 'stale'; stale: StaleEntry[]; basedOn: number }
  | { ok: false; reason: 'ahead'; basedOn: number; version: number }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'busy'; attempts: number }

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
  const built = build(room.doc, writer.clientID, write)
  let head = await ctx.store.head(room.session)
  if (!head) return { ok: false, reason: 'not_found' }
  if (write.basedOn !== undefined && write.basedOn > head.version) {
    return { ok: false, reason: 'ahead', basedOn: write.basedOn, version: head.version }
  }
  if ('message' in built) {
    // A write that cannot be done any more (its decision was closed meanwhile, say) and is
    // stale is refused as stale: that says why, and who did it.
    const failed = write.basedOn === undefined ? undefined : entryOfOp(write.ops[built.index]!)
    const guarded = failed ? guardedEntries(failed, write.by) : []
    const stale = guarded.length === 0 ? [] :
      await findStaleEntries(ctx.store, room.session, { after: write.basedOn!, through: head.version, guarded, writer: write.by })
    if (stale.length > 0) return { ok: false, reason: 'stale', stale, basedOn: write.basedOn! }
    return { ok: false, reason: 'invalid', ...built }
  }
  const { update, written } = built
  if (!update) return { ok: true, version: head.version, position: head.position, written, changes: [] }
  const guarded = written.flatMap((entry) => guardedEntries(entry, write.by))
  const meta = write.rationale === undefined ? undefined : { rationale: write.rationale }
  // Only a write that depends on entries needs its check and its append to be one step.
  let checkedFrom = guarded.length > 0 ? write.basedOn : undefined
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const through = head.version
    if (checkedFrom !== undefined) {
      const stale = await findStaleEntries(ctx.store, room.session, { after: checkedFrom, through, guarded, writer: write.by })
      if (stale.length > 0) return { ok: false, reason: 'stale', stale, basedOn: write.basedOn! }
      checkedFrom = through
    }
    // Summarized against the room's document as it is now, like a peer's update.
    const changes = summarizeUpdate(room.doc, update)
    const outcome = await persistUpdate(ctx, room, update, {
      actor: write.actor, meta, changes, expectedVersion: checkedFrom === undefined ? undefined : through,
    })
    if ('error' in outcome) {
      writer.clientID = freshClientId(room.doc) // whether anything of it was stored is not known
      throw outcome.error
    }
    const { result } = outcome
    if (result.ok) {
      const event = result.events[0]!
      return { ok: true, version: event.version, position: event.position, update, written, changes }
    }
    if (result.reason !== 'version_conflict') throw new Error(`storing a document write failed: ${result.message}`)
    const moved = await ctx.store.head(room.session)
    if (!moved) return { ok: false, reason: 'not_found' }
    head = moved
  }
  return { ok: false, reason: 'busy', attempts: MAX_ATTEMPTS }
}

/** The update the operations make on a copy of `doc`, or the first one that cannot be done. */
function build(doc: Y.Doc, clientID: number, write: DocumentWrite):
  { update?: Uint8Array; written: WrittenEntry[] } | { index: number; message: string } {
  const scratch = new Y.Doc()
  try {
    Y.applyUpdate(scratch, Y.encodeStateAsUpdate(doc))
    // Set after loading: a doc that receives structs of its own client id takes another one.
    scratch.clientID = clientID
    const updates: Uint8Array[] = []
    scratch.on('update', (u: Uint8Array) => updates.push(u))
    const written: WrittenEntry[] = []
    let failed: { index: number; message: string } | undefined
    const now = Date.now()
    scratch.transact(() => {
      for (const [index, op] of write.ops.entries()) {
        try {
          written.push(applyDocOp(scratch, op, write.by, undefined, now))
        } catch (error) {
          failed = { index, message: error instanceof Error ? error.message : String(error) }
          return
        }
      }
    })
    if (failed) return failed
    return { update: updates.length === 0 ? undefined : updates.length === 1 ? updates[0] : Y.mergeUpdates(updates), written }
  } finally {
    scratch.destroy()
  }
}

/** A client id the document has not seen. */
function freshClientId(doc: Y.Doc): number {
  for (;;) {
    const id = randomInt(1, 2 ** 32 - 1)
    if (!doc.store.clients.has(id)) return id
  }
}
