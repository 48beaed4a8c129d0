/**
 * Forking: a new session whose document starts as another session's state at a point of
 * its timeline, to try another path from there. The two logs share nothing afterwards.
 */
import * as Y from 'yjs'
import { summarizeUpdate } from '../session/summarizeUpdate.js'
import type { Actor, AppendedRef, EventStore } from '../store/types.js'
import { loadDocument } from './loadDocument.js'
import { lastEventAt } from './positions.js'

export interface ForkOptions {
  /** The new session's id; it must not exist yet. */
  id: string
  /** Fork at the parent's last event at or before this position (default: its newest). */
  at?: number
  title?: string
  /** Who forks: the actor of the new session's first events. */
  actor: Actor
}

export interface ForkedFrom {
  session: string
  /** The parent's event the fork starts after (its last event at or before `at`). */
  position: number
}

export type ForkResult =
  | { ok: true; id: string; forkedFrom: ForkedFrom; version: number; events: AppendedRef[] }
  | { ok: false; reason: 'not_found'; message: string }
  | { ok: false; reason: 'before_start'; message: string }
  | { ok: false; reason: 'exists'; message: string }

/**
 * Writes the new session's `session.created { title?, forkedFrom }` and one `doc.update`
 * holding the parent's whole document at that point, in one append that requires the new
 * session not to exist (`expectedVersion: 0`).
 *
 * @example
 * const forked = await forkSession(store, 's1', { id: 's1-alt', at: 1200, actor })
 */
export async function forkSession(store: EventStore, parent: string, options: ForkOptions): Promise<ForkResult> {
  const head = await store.head(parent)
  if (!head) return { ok: false, reason: 'not_found', message: `session "${parent}" does not exist` }
  const point = await lastEventAt(store, parent, Math.min(options.at ?? head.position, head.position))
  if (!point) {
    return { ok: false, reason: 'before_start', message: `session "${parent}" has no event at or before position ${options.at}` }
  }
  const loaded = await loadDocument(store, parent, { at: point.position })
  const update = Y.encodeStateAsUpdate(loaded.doc)
  loaded.doc.destroy()
  const empty = new Y.Doc()
  const changes = summarizeUpdate(empty, update) // every entry of the state, as an `add`
  empty.destroy()
  const forkedFrom: ForkedFrom = { session: parent, position: point.position }
  const result = await store.append(options.id, [
    {
      type: 'session.created',
      data: options.title === undefined ? { forkedFrom } : { title: options.title, forkedFrom },
      actor: options.actor,
    },
    { type: 'doc.update', data: { bytes: update.byteLength, changes }, payload: update, actor: options.actor },
  ], { expectedVersion: 0 })
  if (!result.ok) {
    // Fresh event ids cannot collide, so a refusal means the id is taken.
    return { ok: false, reason: 'exists', message: `session "${options.id}" already exists; fork into a new id` }
  }
  return { ok: true, id: options.id, forkedFrom, version: result.version, events: result.events }
}
