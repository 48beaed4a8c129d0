/**
 * The Hocuspocus wire protocol (`@hocuspocus/provider` 3.x and 4.x): encoders for the frames mnemo
 * sends and one strict decoder for the frames it receives.
 *
 * A socket carries many documents. Every frame starts with its document's name as a lib0
 * varString; what follows is a message of that document (lib0 encodings as in messages.ts):
 *
 *   frame          = varString documentName, varUint messageType, body
 *   messageType 0  sync              body as in y-websocket (messages.ts)
 *   messageType 1  awareness         body as in y-websocket
 *   messageType 3  query-awareness   body as in y-websocket (none)
 *   messageType 2  auth:             varUint authType, then
 *       authType 0   token            varString token                  client → server
 *                                     (4.x: then varString its version, "4.8.0")
 *       authType 1   permission denied varString reason                 server → client
 *       authType 2   authenticated    varString scope, "read-write" | "readonly"
 *   messageType 5  stateless:        varString payload (the application's, any text)
 *   messageType 7  close:            client → server: no body, "I leave this document";
 *                                    server → client: varString reason, "you are out of it"
 *   messageType 8  sync status:      varUint 1 — one update or sync step 2 of the client's
 *                                    is stored (the provider counts its unacknowledged ones)
 *
 * A 4.x provider with `sessionAwareness: true` names its frames `document + "\0" + its own
 * random id` (a routing key), so that several providers of one document can share a socket;
 * the server answers under the same key. `sessionOfKey` takes the document out of a key.
 *
 * Types 0, 1 and 3 are y-websocket's messages with the name in front, so the rest of such a
 * frame is handed to the room as a y-websocket frame and validated there. A client opens a
 * document with its token and goes on with its sync step 1 and awareness without waiting for
 * the answer; the server answers that step 1 with its own step 1, then its step 2, and the
 * client's step 2 (its answer to the server's step 1) is acknowledged like an update. (Types 4
 * and 6 are Hocuspocus' server-to-server messages, never a client's.) Nothing may follow a
 * body: trailing bytes, like an unknown type, make a frame malformed.
 */
import * as encoding from 'lib0/encoding'
import { checkSize } from './ProtocolError.js'
import { createReader } from './reader.js'
import { DEFAULT_MAX_MESSAGE_BYTES, MESSAGE_AUTH, MESSAGE_AWARENESS, MESSAGE_QUERY_AWARENESS, MESSAGE_SYNC } from './messages.js'

export const MESSAGE_STATELESS = 5
export const MESSAGE_CLOSE = 7
export const MESSAGE_SYNC_STATUS = 8

export const AUTH_TOKEN = 0
export const AUTH_PERMISSION_DENIED = 1
export const AUTH_AUTHENTICATED = 2

export type Scope = 'read-write' | 'readonly'

export type HocuspocusFrame =
  /** `providerVersion`: what a 4.x provider says it is (3.x says nothing). */
  | { kind: 'auth'; document: string; token: string; providerVersion?: string }
  /** Sync, awareness or query-awareness: `message` is the y-websocket frame, a view into the input. */
  | { kind: 'room'; document: string; message: Uint8Array }
  | { kind: 'stateless'; document: string; payload: string }
  | { kind: 'close'; document: string }

/**
 * Decodes a client's frame. Room messages are only framed here; their bodies are the room's
 * to validate. Throws ProtocolError: 1009 over `maxBytes`, 1007 for anything malformed.
 *
 * @example
 * const frame = decodeFrame(data)
 * if (frame.kind === 'auth') verify(frame.document, frame.token)
 */
export function decodeFrame(data: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): HocuspocusFrame {
  checkSize(data, maxBytes, 'message')
  const r = createReader(data, 'Hocuspocus message')
  const document = r.varString()
  const start = data.length - r.remaining()
  const messageType = r.varUint()
  switch (messageType) {
    case MESSAGE_SYNC:
    case MESSAGE_AWARENESS:
    case MESSAGE_QUERY_AWARENESS:
      return { kind: 'room', document, message: data.subarray(start) }
    case MESSAGE_AUTH: {
      const authType = r.varUint()
      if (authType !== AUTH_TOKEN) r.fail(`a client sends auth type ${AUTH_TOKEN} (token), not ${authType}`)
      const token = r.varString()
      // 4.x follows its token with its own version ("4.8.0"); 3.x sends none.
      const providerVersion = r.remaining() > 0 ? r.varString() : undefined
      r.expectEnd()
      return { kind: 'auth', document, token, providerVersion }
    }
    case MESSAGE_STATELESS: {
      const payload = r.varString()
      r.expectEnd()
      return { kind: 'stateless', document, payload }
    }
    case MESSAGE_CLOSE:
      r.expectEnd()
      return { kind: 'close', document }
    default:
      return r.fail(`unknown message type ${messageType}`)
  }
}

/** Longest routing key: a 128-character session id, "\0", and 64 characters of the provider's id. */
export const MAX_ROUTING_KEY_CHARS = 128 + 1 + 64

/** The document of a frame's name: the name itself, or what precedes "\0" in a 4.x routing key. */
export function sessionOfKey(key: string): string {
  const separator = key.indexOf('\0')
  return separator < 0 ? key : key.slice(0, separator)
}

/** The name prefix of every frame of `document`. */
export function encodeDocumentName(document: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, document)
  return encoding.toUint8Array(encoder)
}

/** A y-websocket frame (sync, awareness) as a frame of the document whose `name` prefix is given. */
export function prefixFrame(name: Uint8Array, message: Uint8Array): Uint8Array {
  const frame = new Uint8Array(name.length + message.length)
  frame.set(name, 0)
  frame.set(message, name.length)
  return frame
}

export const encodeAuthenticated = (document: string, scope: Scope): Uint8Array =>
  frame(document, MESSAGE_AUTH, (e) => {
    encoding.writeVarUint(e, AUTH_AUTHENTICATED)
    encoding.writeVarString(e, scope)
  })

export const encodePermissionDenied = (document: string, reason: string): Uint8Array =>
  frame(document, MESSAGE_AUTH, (e) => {
    encoding.writeVarUint(e, AUTH_PERMISSION_DENIED)
    encoding.writeVarString(e, reason)
  })

/** One update or sync step 2 stored (the provider reads a varInt; 1 encodes the same either way). */
export const encodeSyncStatus = (document: string): Uint8Array =>
  frame(document, MESSAGE_SYNC_STATUS, (e) => encoding.writeVarUint(e, 1))

export const encodeStateless = (document: string, payload: string): Uint8Array =>
  frame(document, MESSAGE_STATELESS, (e) => encoding.writeVarString(e, payload))

export const encodeClose = (document: string, reason: string): Uint8Array =>
  frame(document, MESSAGE_CLOSE, (e) => encoding.writeVarString(e, reason))

function frame(document: string, messageType: number, body: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, document)
  encoding.writeVarUint(encoder, messageType)
  body(encoder)
  return encoding.toUint8Array(encoder)
}
