/**
 * The WebSocket endpoints on the HTTP server's port: `/sync/<sessionId>` (y-websocket) and
 * `/hocuspocus` (Hocuspocus' provider, hocuspocus.ts). `ws` in noServer mode handles the
 * upgrade (with `maxPayload`), the caller's `authenticate` names the identity, and refusals are
 * sent as close codes after accepting — the only way a browser's WebSocket learns why it was
 * turned away. A Hocuspocus socket is accepted as it comes: its documents bring their tokens.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws'
import type { Identity } from '../auth/identity.js'
import { sessionIdPattern } from '../vocabulary.js'
import { sessionAllowed } from '../auth/roles.js'
import { truncateReason } from './connection.js'
import type { RoomManager } from './createRoomManager.js'
import { createHocuspocusEndpoint } from './hocuspocus.js'
import { DEFAULT_ROOM_CONFIG, silentLog, type Log, type Refusal, type UpdateObserver } from './types.js'

export interface SyncEndpointOptions {
  rooms: Pick<RoomManager, 'attach'>
  /**
   * The identity of the request (token or open mode), or how to refuse it (4401, 4403).
   * `token`: a Hocuspocus document's, used instead of the request's own when not empty.
   */
  authenticate(req: IncomingMessage, token?: string): Promise<Identity | Refusal>
  /**
   * A last check as the socket is handed to the rooms (a suspended identity: 4403). Synchronous and
   * right before `attach`, so a suspension that took effect meanwhile still turns it away.
   */
  admit?(identity: Identity): Refusal['close'] | undefined
  /** Largest frame `ws` accepts (it closes with 1009 beyond); default 1 MiB. */
  maxPayload?: number
  /** What one Hocuspocus socket may have waiting (hocuspocus.ts); default 4 MiB. */
  maxBufferedBytes?: number
  /** Stateless messages one Hocuspocus socket may send a second, and at once; 0: no limit (the default). */
  statelessRate?: { perSec: number; burst: number }
  /** Told of the refusals made here, before a room (Hocuspocus' stateless messages over their rate). */
  observe?: Pick<UpdateObserver, 'refused'>
  log?: Log
}

export interface SyncEndpoint {
  /** Stops taking upgrades; open sockets stay with the room manager. */
  close(): Promise<void>
}

const SYNC_PATH = /^\/sync\/(.*)$/
const HOCUSPOCUS_PATH = /^\/hocuspocus\/?$/

/**
 * @example
 * const endpoint = attachSyncEndpoint(server, { rooms, authenticate: async (req) => identityOf(req) })
 * // clients: new WebsocketProvider('ws://127.0.0.1:3001/sync', 's1', doc, { params: { token } })
 */
export function attachSyncEndpoint(server: Server, options: SyncEndpointOptions): SyncEndpoint {
  const { rooms, authenticate, admit, log = silentLog } = options
  const maxPayload = options.maxPayload ?? DEFAULT_ROOM_CONFIG.maxMessageBytes
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    // The room manager tracks sockets; with ws' own tracking, close() would wait for every
    // client to leave before the room manager could close them (a shutdown that never ends).
    clientTracking: false,
    // Stock clients never fragment; a message in thousands of pieces is only an attack (1008).
    maxFragments: 1024,
    // Chunks held while a frame arrives: a largest frame in 256-byte TCP reads fits.
    maxBufferedChunks: Math.max(4096, Math.ceil(maxPayload / 256)),
    // A peer that does not answer our close (a stalled reader) is cut off after this.
    closeTimeout: 5_000,
    // Pings are answered by the room manager, after the frames sent before them are handled
    // (a connection's frames wait while its participant.joined is stored); Hocuspocus' by its endpoint.
    autoPong: false,
  } as ServerOptions & { closeTimeout: number }) // ws 8.23 has it; @types/ws does not yet
  const hocuspocus = createHocuspocusEndpoint({
    rooms,
    authenticate: (req, token) => authenticate(req, token),
    log,
    maxPayload,
    maxBufferedBytes: options.maxBufferedBytes,
    statelessPerSec: options.statelessRate?.perSec,
    statelessBurst: options.statelessRate?.burst,
    observe: options.observe,
  })

  // Made here, not in onUpgrade: a listener made there would share onUpgrade's scope and hold
  // the upgrade request (its headers) for as long as the socket lives.
  const onSocketError = (error: Error): void => log.debug({ err: error }, 'upgrade socket error')

  function accept(req: IncomingMessage, socket: Duplex, head: Buffer, then: (ws: WebSocket) => void): void {
    if (socket.destroyed) return
    wss.handleUpgrade(req, socket, head, then)
  }

  function refuse(req: IncomingMessage, socket: Duplex, head: Buffer, code: number, reason: string): void {
    accept(req, socket, head, (ws) => ws.close(code, truncateReason(reason)))
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const match = SYNC_PATH.exec(path)
    if (!match && !HOCUSPOCUS_PATH.test(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      socket.destroy()
      return
    }
    socket.on('error', onSocketError)
    if (!match) return accept(req, socket, head, (ws) => hocuspocus.accept(ws, req))
    const session = match[1]!
    if (!sessionIdPattern.test(session)) {
      return refuse(req, socket, head, 4400, 'bad session id: use 1 to 128 of A-Z a-z 0-9 _ -')
    }
    authenticate(req).then(
      (outcome) => {
        if ('close' in outcome) return refuse(req, socket, head, outcome.close.code, outcome.close.reason)
        if (!sessionAllowed(outcome, session)) return refuse(req, socket, head, 4403, `not allowed in session ${session}`)
        accept(req, socket, head, (ws) => {
          const refusal = admit?.(outcome)
          if (refusal) ws.close(refusal.code, truncateReason(refusal.reason))
          else rooms.attach(ws, session, outcome)
        })
      },
      (error: unknown) => {
        log.error({ err: error, session }, 'authenticating a sync connection failed')
        refuse(req, socket, head, 1011, 'internal error, reconnect')
      },
    )
  }

  server.on('upgrade', onUpgrade)
  return {
    close() {
      server.off('upgrade', onUpgrade)
      hocuspocus.close()
      return new Promise((resolve) => wss.close(() => resolve()))
    },
  }
}
