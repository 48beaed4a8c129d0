/**
 * Awareness updates (y-protocols awareness.js): validation into plain entries, and the
 * rewrite the server uses to stamp each client's `user` with its identity.
 *
 * An awareness update is `varUint count`, then per entry `varUint clientID`,
 * `varUint clock`, `varString JSON(state)`; the state `null` means "this client left".
 */
import * as encoding from 'lib0/encoding'
import { checkSize } from './ProtocolError.js'
import { createReader, type Reader } from './reader.js'

export type AwarenessState = Record<string, unknown>

export interface AwarenessEntry {
  clientID: number
  clock: number
  /** The client's state; null removes the client. */
  state: AwarenessState | null
}

export interface AwarenessUser {
  id: string
  name: string
  kind: string
}

export interface AwarenessOptions {
  /** Refuse (ProtocolError 1009) anything longer; default: no limit. */
  maxBytes?: number
  /** Refuse (ProtocolError 1007) more entries than this; default 1024. */
  maxStates?: number
}

export const DEFAULT_MAX_AWARENESS_STATES = 1024

/**
 * Decodes an awareness update; throws ProtocolError(1007) when it is malformed, has more
 * than `maxStates` entries, or a state that is neither a JSON object nor null.
 */
export function validateAwarenessUpdate(update: Uint8Array, opts: AwarenessOptions = {}): AwarenessEntry[] {
  const { r, n } = openUpdate(update, opts)
  const entries: AwarenessEntry[] = []
  for (let i = 0; i < n; i++) {
    const clientID = r.varUint()
    const clock = r.varUint()
    const json = r.varString()
    let state: unknown
    try {
      state = JSON.parse(json)
    } catch {
      r.fail(`the state of client ${clientID} is not valid JSON`)
    }
    if (state !== null && !isPlainObject(state)) r.fail(`the state of client ${clientID} is not an object or null`)
    entries.push({ clientID, clock, state: state as AwarenessState | null })
  }
  r.expectEnd()
  return entries
}

/**
 * The client ids of an awareness update, read without decoding its states (each state's JSON
 * is skipped over, not parsed): enough to recognise states a connection may not speak for.
 * Throws ProtocolError(1007) for a malformed update, as validateAwarenessUpdate does.
 */
export function awarenessClientIds(update: Uint8Array, opts: AwarenessOptions = {}): number[] {
  const { r, n } = openUpdate(update, opts)
  const ids: number[] = []
  for (let i = 0; i < n; i++) {
    ids.push(r.varUint())
    r.varUint() // clock
    r.varBytes() // the state's JSON
  }
  r.expectEnd()
  return ids
}

/** A reader past the update's entry count, which is checked against `maxStates`. */
function openUpdate(update: Uint8Array, opts: AwarenessOptions): { r: Reader; n: number } {
  checkSize(update, opts.maxBytes ?? Infinity, 'awareness update')
  const maxStates = opts.maxStates ?? DEFAULT_MAX_AWARENESS_STATES
  const r = createReader(update, 'awareness update')
  const n = r.count(3) // clientID, clock and a string length: 3 bytes at least
  if (n > maxStates) r.fail(`${n} states; at most ${maxStates} are allowed`)
  return { r, n }
}

/** Encodes entries the way y-protocols' `encodeAwarenessUpdate` does. */
export function encodeAwarenessEntries(entries: readonly AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, entries.length)
  for (const { clientID, clock, state } of entries) {
    encoding.writeVarUint(encoder, clientID)
    encoding.writeVarUint(encoder, clock)
    encoding.writeVarString(encoder, JSON.stringify(state))
  }
  return encoding.toUint8Array(encoder)
}

/**
 * Longest JSON (in characters) of the fields a client keeps in its `user` beside the stamped
 * id, name and kind — Tiptap's CollaborationCaret puts `color` there. Longer, they are dropped.
 */
export const MAX_USER_EXTRA_CHARS = 1024

/**
 * Re-encodes an awareness update with every state's `user` stamped with `user`'s id, name and
 * kind, so a client cannot pose as someone else. Null states (removals) stay null. Validates first.
 */
export function stampAwarenessUser(update: Uint8Array, user: AwarenessUser, opts: AwarenessOptions = {}): Uint8Array {
  return encodeAwarenessEntries(stampAwarenessEntries(validateAwarenessUpdate(update, opts), user))
}

/**
 * The entries with every state's `user` stamped: id, name and kind are the identity's, the
 * client's other `user` fields (a caret colour) stay when their JSON is at most
 * MAX_USER_EXTRA_CHARS; null states stay null.
 */
export function stampAwarenessEntries(entries: readonly AwarenessEntry[], user: AwarenessUser): AwarenessEntry[] {
  const identity = { id: user.id, name: user.name, kind: user.kind }
  return entries.map(entry => ({
    ...entry,
    state: entry.state === null ? null : { ...entry.state, user: stampedUser(entry.state.user, identity) },
  }))
}

function stampedUser(claimed: unknown, identity: AwarenessUser): AwarenessUser & Record<string, unknown> {
  if (!isPlainObject(claimed)) return { ...identity }
  const { id: _id, name: _name, kind: _kind, ...extra } = claimed
  if (Object.keys(extra).length === 0 || JSON.stringify(extra).length > MAX_USER_EXTRA_CHARS) return { ...identity }
  return { ...extra, ...identity }
}

function isPlainObject(value: unknown): value is AwarenessState {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
