/**
 * The Hocuspocus dialect at `ws://HOST:PORT/hocuspocus`: one socket of `@hocuspocus/provider`
 * carries many documents, each frame prefixed by its document's name (protocol/hocuspocus.ts).
 * Every document a client opens with its token becomes a channel: to the room manager a
 * SyncSocket like any y-websocket one, which takes the name off the frames it receives and puts
 * it in front of those it sends. So a Hocuspocus client is in the same room as the y-websocket
 * ones, through the same pipeline (stored before anyone sees it, attributed, one timeline),
 * limits and presence. What only Hocuspocus has is here — a token per document, stateless
 * messages — or in the channel's Dialect: sync-status acknowledgements once an update is stored.
 *
 * A document's frames are named by its session id, or (4.x `sessionAwareness`) by a routing key
 * `session\0providerId`: then two providers of one session share the socket, each a channel of
 * its own, answered under its key. Frames' names below are such keys.
 *
 * Refusals that concern one document (4400, 4403, 4413) close only it, with a Close message
 * (`"4403: viewers cannot edit this session"`); the socket stays with the other documents.
 * Those that ask the client to come back (1011, 1012, 1013, 4401 expired, 4429) and malformed
 * frames close the socket with their code, as on /sync: the provider reconnects and opens every
 * document of it again, re-sending what was not stored.
 */
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from 'ws'
import type { Identity } from '../auth/identity.js'
import { hasRole, sessionAllowed } from '../auth/roles.js'
import {
  decodeFrame, encodeAuthenticated, encodeClose, encodeDocumentName, encodePermissionDenied, encodeStateless,
  encodeSyncStatus, MAX_ROUTING_KEY_CHARS, prefixFrame, sessionOfKey, type HocuspocusFrame,
} from '../protocol/hocuspocus.js'
import { ProtocolError } from '../protocol/ProtocolError.js'
import { createTokenBucket } from '../tokenBucket.js'
import { sessionIdPattern } from '../vocabulary.js'
import { frameOf, truncateReason } from './connection.js'
import type { RoomManager } from './createRoomManager.js'
import { DEFAULT_ROOM_CONFIG, type Log, type Refusal, type SyncSocket, type UpdateObserver } from './types.js'

export interface HocuspocusOptions {
  rooms: Pick<RoomManager, 'attach'>
  /** The identity of a document's `token` (empty: the socket's own credentials, or open mode), or how to refuse it. */
  authenticate(req: IncomingMessage, token: string): Promise<Identity | Refusal>
  log: Log
  /** Largest frame; default 1 MiB (`ws` refuses larger ones first). */
  maxPayload?: number
  /**
   * Bytes one socket may have waiting: its messages for documents whose token is being verified
   * (more close it, 1013), and data not yet sent to it (stateless messages beyond are dropped). Default 4 MiB.
   */
  maxBufferedBytes?: number
  /** Stateless messages one socket may send a second, and at once (token bucket; over it they are dropped). 0: no limit. */
  statelessPerSec?: number
  statelessBurst?: number
  /** Told of the stateless messages dropped over that rate (mnemo_refusals_total). */
  observe?: Pick<UpdateObserver, 'refused'>
}

export interface HocuspocusEndpoint {
  /** Serves an accepted WebSocket of the `/hocuspocus` path. */
  accept(ws: WebSocket, req: IncomingMessage): void
  /** Closes (1012) every socket still open; their documents' rooms have closed theirs already. */
  close(): void
}

/** Documents one socket may hold open, refused or being verified; more are refused. */
export const MAX_DOCUMENTS_PER_SOCKET = 100

/** Close codes about one document: they close it alone. */
const DOCUMENT_CODES: ReadonlySet<number> = new Set([4400, 4403, 4413])

const OPEN = 1
const CLOSED = 3

/** One document of a multiplexed socket, as its room sees it. */
interface Channel extends SyncSocket {
  /** The session id (its frames' names may be routing keys of it). */
  readonly document: string
  /** Hands a y-websocket message of this document to the room. */
  receive(message: Uint8Array): void
  /** Sends another client's stateless message; dropped when the socket is backed up. */
  deliverStateless(payload: string): void
  /** Ends the channel without telling the client (it left the document, or its socket closed). */
  end(): void
}

/** A document of a socket: its token being verified (its messages wait), open, or refused (its messages are dropped). */
type DocumentState =
  | { kind: 'verifying'; waiting: { frame: HocuspocusFrame; bytes: number }[] }
  | { kind: 'open'; channel: Channel }
  | { kind: 'refused' }

/**
 * @example
 * const hocuspocus = createHocuspocusEndpoint({ rooms, authenticate, log })
 * // on an upgrade of /hocuspocus: wss.handleUpgrade(req, socket, head, (ws) => hocuspocus.accept(ws, req))
 * // clients: new HocuspocusProvider({ url: 'ws://127.0.0.1:3001/hocuspocus', name: 's1', token })
 */
export function createHocuspocusEndpoint(options: HocuspocusOptions): HocuspocusEndpoint {
  const { rooms, authenticate, log } = options
  const maxPayload = options.maxPayload ?? DEFAULT_ROOM_CONFIG.maxMessageBytes
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_ROOM_CONFIG.maxBufferedBytes
  /** Open channels by document, for stateless messages: this instance's clients only. */
  const byDocument = new Map<string, Set<Channel>>()
  const sockets = new Set<WebSocket>()

  function accept(ws: WebSocket, req: IncomingMessage): void {
    /** By the name of their frames: a session id, or a 4.x routing key of one. */
    const documents = new Map<string, DocumentState>()
    const stateless = createTokenBucket(options.statelessPerSec ?? 0, options.statelessBurst ?? 400, Date.now())
    let waitingBytes = 0
    let closed = false
    sockets.add(ws)

    const sendFrame = (frame: Uint8Array): void => {
      if (ws.readyState === OPEN) ws.send(frame)
    }

    /** Closes the socket, and every document on it at once (their rooms need not wait for the closing handshake). */
    function closeSocket(code: number, reason: string): void {
      if (closed) return
      closed = true
      sockets.delete(ws)
      try {
        ws.close(code, truncateReason(reason))
      } catch {
        // Gone already.
      }
      for (const state of documents.values()) if (state.kind === 'open') state.channel.end()
      documents.clear()
    }

    /** Forgets a document that is not open (the client left it); its waiting messages go with it. */
    function forget(key: string): void {
      const state = documents.get(key)
      if (state?.kind === 'verifying') for (const { bytes } of state.waiting) waitingBytes -= bytes
      documents.delete(key)
    }

    function refuse(key: string, reason: string): void {
      documents.set(key, { kind: 'refused' })
      sendFrame(encodePermissionDenied(key, reason))
    }

    function verify(key: string, token: string): void {
      const state = documents.get(key)
      // The provider sends its token once per document and socket; again would be a bug's echo.
      if (state?.kind === 'open' || state?.kind === 'verifying') return
      const document = sessionOfKey(key)
      // Too long a name is answered but not remembered: a socket holds only short ones.
      if (key.length > MAX_ROUTING_KEY_CHARS) return sendFrame(encodePermissionDenied(key, `document name over ${MAX_ROUTING_KEY_CHARS} characters`))
      if (!sessionIdPattern.test(document)) return refuse(key, 'bad session id: use 1 to 128 of A-Z a-z 0-9 _ -')
      if (!state && documents.size >= MAX_DOCUMENTS_PER_SOCKET) {
        return sendFrame(encodePermissionDenied(key, `at most ${MAX_DOCUMENTS_PER_SOCKET} documents on one socket; open another`))
      }
      const verifying: DocumentState = { kind: 'verifying', waiting: [] }
      documents.set(key, verifying)
      const settle = (then: () => void): void => {
        if (documents.get(key) !== verifying) return // it left, or the socket closed, meanwhile
        forget(key)
        then()
      }
      authenticate(req, token).then(
        (outcome) => settle(() => {
          if ('close' in outcome) return refuse(key, outcome.close.reason)
          if (!sessionAllowed(outcome, document)) return refuse(key, `not allowed in session ${document}`)
          open(key, outcome, verifying.waiting)
        }),
        (error: unknown) => settle(() => {
          log.error({ err: error, session: document }, 'authenticating a Hocuspocus document failed')
          refuse(key, 'internal error, try again')
        }),
      ).catch((error: unknown) => {
        log.error({ err: error, session: document }, 'opening a Hocuspocus document failed')
        closeSocket(1011, 'internal error, reconnect')
      })
    }

    function open(key: string, identity: Identity, waiting: { frame: HocuspocusFrame }[]): void {
      const document = sessionOfKey(key)
      const channel = createChannel(ws, key, { closeSocket, maxBufferedBytes }, () => {
        byDocument.get(document)?.delete(channel)
        if (byDocument.get(document)?.size === 0) byDocument.delete(document)
        const state = documents.get(key)
        // Closed by its room: what the client still sends for it is dropped until it authenticates again.
        if (state?.kind === 'open' && state.channel === channel) documents.set(key, { kind: 'refused' })
      })
      documents.set(key, { kind: 'open', channel })
      byDocument.set(document, (byDocument.get(document) ?? new Set()).add(channel))
      sendFrame(encodeAuthenticated(key, hasRole(identity, 'editor') ? 'read-write' : 'readonly'))
      rooms.attach(channel, document, identity)
      for (const { frame } of waiting) dispatch(frame, 0)
    }

    function dispatch(frame: HocuspocusFrame, bytes: number): void {
      if (frame.kind === 'auth') return verify(frame.document, frame.token)
      const state = documents.get(frame.document)
      if (!state) {
        // Before its token (the provider sends awareness while it fetches one): dropped, since
        // the sync that follows authentication carries everything. A y-websocket client's
        // frames, read as Hocuspocus ones, have no such name: say where it should connect.
        // (A name too long to remember was refused: its frames are dropped.)
        if (frame.document.length <= MAX_ROUTING_KEY_CHARS && !sessionIdPattern.test(sessionOfKey(frame.document))) {
          closeSocket(4400, `not a session id: ${JSON.stringify(frame.document.slice(0, 24))} (y-websocket clients connect to /sync/<session>)`)
        }
        return
      }
      if (frame.kind === 'close' && state.kind !== 'open') return forget(frame.document)
      if (state.kind === 'refused') return
      if (state.kind === 'verifying') {
        if (waitingBytes + bytes > maxBufferedBytes) return closeSocket(1013, 'too many messages while a token was verified, reconnect')
        waitingBytes += bytes
        state.waiting.push({ frame, bytes })
        return
      }
      const { channel } = state
      switch (frame.kind) {
        case 'room':
          return channel.receive(frame.message)
        case 'stateless':
          // Ephemeral like awareness: over the rate it is dropped, never stored.
          if (!stateless.take(Date.now())) {
            options.observe?.refused('hocuspocus', 'stateless_rate')
            return
          }
          for (const other of byDocument.get(channel.document) ?? []) if (other !== channel) other.deliverStateless(frame.payload)
          return
        case 'close':
          documents.delete(frame.document)
          return channel.end()
      }
    }

    ws.on('error', (error) => log.debug({ err: error }, 'Hocuspocus socket error'))
    ws.on('close', () => closeSocket(1000, ''))
    ws.on('ping', (data) => {
      if (!closed && ws.readyState === ws.OPEN && ws.bufferedAmount <= maxBufferedBytes) ws.pong(data)
    })
    ws.on('message', (data, isBinary) => {
      if (closed) return
      if (!isBinary) return closeSocket(1007, 'the Hocuspocus protocol is binary; text frames are refused')
      const bytes = frameOf(data)
      try {
        dispatch(decodeFrame(bytes, maxPayload), bytes.length)
      } catch (error) {
        if (error instanceof ProtocolError) {
          log.info({ code: error.code, reason: error.message }, 'refused a Hocuspocus message')
          return closeSocket(error.code, error.message)
        }
        log.error({ err: error }, 'handling a Hocuspocus message failed')
        closeSocket(1011, 'internal error, reconnect')
      }
    })
  }

  return {
    accept,
    close() {
      for (const ws of [...sockets]) {
        sockets.delete(ws)
        try {
          ws.close(1012, 'server shutting down, reconnect')
        } catch {
          // Gone already.
        }
      }
    },
  }
}

interface SocketControl {
  closeSocket(code: number, reason: string): void
  maxBufferedBytes: number
}

/** A channel for the frames named `key` on `ws`; `onEnd` runs once when it ends, whoever ended it. */
function createChannel(ws: WebSocket, key: string, socket: SocketControl, onEnd: () => void): Channel {
  const document = sessionOfKey(key)
  const name = encodeDocumentName(key)
  const syncStatus = encodeSyncStatus(key)
  const messageListeners: ((data: Buffer, isBinary: boolean) => void)[] = []
  const closeListeners: ((code: number, reason: Buffer) => void)[] = []
  let ended = false
  const writable = (): boolean => !ended && ws.readyState === OPEN

  function end(code = 1000, reason = ''): void {
    if (ended) return
    ended = true
    onEnd()
    for (const listener of closeListeners) listener(code, Buffer.from(reason))
  }

  return {
    document,
    get readyState() {
      return ended ? CLOSED : ws.readyState
    },
    get bufferedAmount() {
      return ws.bufferedAmount
    },
    send(message) {
      if (writable()) ws.send(prefixFrame(name, message))
    },
    close(code = 1000, reason = '') {
      if (ended) return
      if (!DOCUMENT_CODES.has(code)) return socket.closeSocket(code, reason)
      if (writable()) ws.send(encodeClose(key, `${code}: ${reason}`))
      end(code, reason)
    },
    on(event: string, listener: (...args: never[]) => void) {
      if (event === 'message') messageListeners.push(listener as (data: Buffer, isBinary: boolean) => void)
      else if (event === 'close') closeListeners.push(listener as (code: number, reason: Buffer) => void)
      // 'error': the socket's errors are logged once, by the endpoint.
      return this
    },
    dialect: {
      step1InAnswer: true,
      echoAwareness: true,
      acknowledge(count) {
        for (let i = 0; i < count && writable(); i++) ws.send(syncStatus)
      },
    },
    receive(message) {
      if (ended) return
      const data = Buffer.from(message.buffer, message.byteOffset, message.byteLength)
      for (const listener of messageListeners) listener(data, true)
    },
    deliverStateless(payload) {
      if (writable() && ws.bufferedAmount <= socket.maxBufferedBytes) ws.send(encodeStateless(key, payload))
    },
    end: () => end(),
  }
}
