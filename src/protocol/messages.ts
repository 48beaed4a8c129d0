/**
 * The y-websocket wire protocol: encoders for the messages mnemo sends and one strict
 * decoder for the messages it receives.
 *
 * One WebSocket binary frame carries exactly one message. Integers are lib0 varUints
 * (7 bits per byte, low bits first, high bit = "more"); byte strings are a varUint length
 * followed by the bytes (`varUint8Array`); strings are UTF-8 in a varUint8Array.
 *
 *   message        = varUint messageType, body
 *   messageType 0  sync:            varUint syncType, varUint8Array payload
 *       syncType 0   step 1:          payload = state vector (Y.encodeStateVector).
 *                                     The receiver answers with step 2.
 *       syncType 1   step 2:          payload = Yjs v1 update with everything the
 *                                     step-1 sender is missing (Y.encodeStateAsUpdate).
 *       syncType 2   update:          payload = Yjs v1 update of one change.
 *   messageType 1  awareness:       varUint8Array awareness update
 *                                     (varUint n, n × [varUint clientID, varUint clock,
 *                                     varString JSON state]; state null = gone)
 *   messageType 2  auth (reserved): varUint authType; authType 0 = permission denied,
 *                                     varString reason. mnemo never sends it (it closes
 *                                     the socket with a code instead); a client may.
 *   messageType 3  query-awareness: no body; the receiver answers with the awareness
 *                                     states it knows.
 *
 * A client opens with step 1 (and usually its awareness); the server answers step 2 and
 * its own step 1, then both sides send updates as they happen. Nothing may follow the
 * body: trailing bytes, like a truncated body or an unknown type, make a frame malformed.
 */
import * as encoding from 'lib0/encoding'
import { validateAwarenessUpdate } from './awareness.js'
import { checkSize } from './ProtocolError.js'
import { createReader, type Reader } from './reader.js'
import { validateStateVector, validateUpdate } from './updates.js'

export const MESSAGE_SYNC = 0
export const MESSAGE_AWARENESS = 1
export const MESSAGE_AUTH = 2
export const MESSAGE_QUERY_AWARENESS = 3

export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

export const AUTH_PERMISSION_DENIED = 0

/** SPEC: `MNEMO_MAX_MESSAGE_BYTES` defaults to 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

export type Message =
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  | { kind: 'sync-step2'; update: Uint8Array }
  | { kind: 'update'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'query-awareness' }
  | { kind: 'auth'; type: 'permission-denied'; reason: string }

export interface DecodeOptions {
  /** Larger frames are refused with ProtocolError(1009). Default 1 MiB. */
  maxBytes?: number
  /** Awareness updates with more entries are refused. Default 1024. */
  maxStates?: number
}

export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array => sync(SYNC_STEP1, stateVector)
export const encodeSyncStep2 = (update: Uint8Array): Uint8Array => sync(SYNC_STEP2, update)
export const encodeUpdate = (update: Uint8Array): Uint8Array => sync(SYNC_UPDATE, update)

export function encodeAwareness(awarenessUpdate: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
  encoding.writeVarUint8Array(encoder, awarenessUpdate)
  return encoding.toUint8Array(encoder)
}

export function encodeQueryAwareness(): Uint8Array {
  return Uint8Array.of(MESSAGE_QUERY_AWARENESS)
}

function sync(syncType: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  encoding.writeVarUint(encoder, syncType)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

/**
 * Decodes one frame and validates its payload (state vector, Yjs update or awareness
 * update) completely. Payloads are copies, safe to keep after the frame's buffer is reused.
 * Throws ProtocolError: 1009 when the frame is over `maxBytes`, 1007 for anything malformed.
 *
 * @example
 * const message = decodeMessage(frame, { maxBytes: 1 << 20 })
 * if (message.kind === 'update') Y.applyUpdate(doc, message.update)
 */
export function decodeMessage(data: Uint8Array, opts: DecodeOptions = {}): Message {
  checkSize(data, opts.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'message')
  const r = createReader(data, 'message')
  const messageType = r.varUint()
  const message = readBody(r, messageType, opts)
  r.expectEnd()
  return message
}

function readBody(r: Reader, messageType: number, opts: DecodeOptions): Message {
  switch (messageType) {
    case MESSAGE_SYNC:
      return readSync(r)
    case MESSAGE_AWARENESS: {
      const update = copy(r.varBytes())
      validateAwarenessUpdate(update, { maxStates: opts.maxStates })
      return { kind: 'awareness', update }
    }
    case MESSAGE_AUTH:
      return readAuth(r)
    case MESSAGE_QUERY_AWARENESS:
      return { kind: 'query-awareness' }
    default:
      return r.fail(`unknown message type ${messageType}`)
  }
}

function readSync(r: Reader): Message {
  const syncType = r.varUint()
  if (syncType > SYNC_UPDATE) r.fail(`unknown sync message type ${syncType}`)
  const payload = copy(r.varBytes())
  if (syncType === SYNC_STEP1) {
    validateStateVector(payload)
    return { kind: 'sync-step1', stateVector: payload }
  }
  validateUpdate(payload)
  return syncType === SYNC_STEP2 ? { kind: 'sync-step2', update: payload } : { kind: 'update', update: payload }
}

function readAuth(r: Reader): Message {
  const authType = r.varUint()
  if (authType !== AUTH_PERMISSION_DENIED) r.fail(`unknown auth message type ${authType}`)
  return { kind: 'auth', type: 'permission-denied', reason: r.varString() }
}

/** A copy detached from the frame's buffer (a Node Buffer may be a slice of a shared pool). */
function copy(view: Uint8Array): Uint8Array {
  return new Uint8Array(view)
}
