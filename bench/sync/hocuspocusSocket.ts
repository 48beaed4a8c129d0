/**
 * A WebSocket look-alike that lets the stock y-websocket `WebsocketProvider` talk to a
 * Hocuspocus server, so all three servers are driven by the same client code.
 *
 * Hocuspocus 3 multiplexes documents on one socket: every frame starts with
 * `varString(documentName)`, then the y-websocket message type, then the y-websocket
 * payload. It also wants an auth frame (`name, 2 = Auth, 0 = Token, varString(token)`)
 * before it handles anything else for that document, answers a client's sync step 1
 * with type 4 (SyncReply: a sync message that asks for no further step 1), and
 * acknowledges each update with type 8 (SyncStatus). This shim adds the prefix and the
 * auth frame on the way out, strips the prefix on the way in, maps SyncReply to Sync and
 * drops the frames y-websocket has no use for (auth replies, SyncStatus, stateless).
 * The extra copy per frame costs the load generator, not the server.
 */
import WebSocket from 'ws'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

const typeSync = 0
const typeAwareness = 1
const typeAuth = 2
const typeQueryAwareness = 3
const typeSyncReply = 4
const authToken = 0
const authPermissionDenied = 1

type Handler = ((event: any) => void) | null

export class HocuspocusSocket {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3
  readonly CONNECTING = 0
  readonly OPEN = 1
  readonly CLOSING = 2
  readonly CLOSED = 3

  binaryType = 'arraybuffer'
  onopen: Handler = null
  onmessage: Handler = null
  onclose: Handler = null
  onerror: Handler = null

  private readonly socket: WebSocket
  private readonly prefix: Uint8Array

  /**
   * The document name is the URL's last path segment, as y-websocket builds it; the socket
   * goes to the path before it (Hocuspocus serves any path, mnemo serves `/hocuspocus`).
   */
  constructor (url: string, protocols?: string | string[]) {
    const parsed = new URL(url)
    const segments = parsed.pathname.split('/')
    const documentName = decodeURIComponent(segments.pop() ?? '')
    parsed.pathname = segments.join('/') || '/'
    url = parsed.toString()
    const prefixEncoder = encoding.createEncoder()
    encoding.writeVarString(prefixEncoder, documentName)
    this.prefix = encoding.toUint8Array(prefixEncoder)

    this.socket = new WebSocket(url, protocols)
    this.socket.binaryType = 'arraybuffer'
    this.socket.onopen = () => {
      const auth = encoding.createEncoder()
      encoding.writeUint8Array(auth, this.prefix)
      encoding.writeVarUint(auth, typeAuth)
      encoding.writeVarUint(auth, authToken)
      encoding.writeVarString(auth, '')
      this.socket.send(encoding.toUint8Array(auth))
      this.onopen?.({ type: 'open' })
    }
    this.socket.onmessage = (event) => {
      const inner = unwrap(new Uint8Array(event.data as ArrayBuffer))
      if (inner === 'denied') this.socket.close(4403, 'permission denied')
      else if (inner !== null) this.onmessage?.({ type: 'message', data: inner })
    }
    this.socket.onclose = (event) => this.onclose?.(event)
    this.socket.onerror = (event) => this.onerror?.(event)
  }

  get readyState (): number {
    return this.socket.readyState
  }

  send (data: Uint8Array | ArrayBuffer): void {
    const payload = data instanceof Uint8Array ? data : new Uint8Array(data)
    const framed = new Uint8Array(this.prefix.length + payload.length)
    framed.set(this.prefix, 0)
    framed.set(payload, this.prefix.length)
    this.socket.send(framed)
  }

  close (code?: number, reason?: string): void {
    this.socket.close(code, reason)
  }
}

/** A Hocuspocus frame as a y-websocket message, `null` to drop it, `'denied'` on refusal. */
function unwrap (frame: Uint8Array): Uint8Array | null | 'denied' {
  const decoder = decoding.createDecoder(frame)
  decoding.readVarString(decoder)
  const typeAt = decoder.pos
  const type = decoding.readVarUint(decoder)
  switch (type) {
    case typeSync:
    case typeAwareness:
    case typeQueryAwareness:
      return frame.subarray(typeAt)
    case typeSyncReply: {
      // Types are single-byte varUints, so rewriting the type is a one-byte patch.
      const copy = frame.slice(typeAt)
      copy[0] = typeSync
      return copy
    }
    case typeAuth:
      return decoding.readVarUint(decoder) === authPermissionDenied ? 'denied' : null
    default:
      return null
  }
}
