/**
 * Shared by the collab tests: a small node:http server with the sync endpoint and a room
 * manager on a given store (open-mode identities from `?id=&name=&kind=&role=`), stock
 * y-websocket clients in Node, and a wait-until helper (waits, never timing assertions).
 */
import { EventEmitter } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { openIdentity, roles, type Role } from '../src/auth/identity.js'
import { createRoomManager, type RoomManager } from '../src/collab/createRoomManager.js'
import type { Log, RoomConfig } from '../src/collab/types.js'
import { attachSyncEndpoint } from '../src/collab/upgrade.js'
import type { EventStore } from '../src/store/types.js'
import { until } from './fixtures/until.js'

// Every provider adds a process 'exit' listener; tests open dozens.
process.setMaxListeners(200)

export interface TestServer {
  url: string
  port: number
  store: EventStore
  rooms: RoomManager
  http: Server
  close(): Promise<void>
}

export async function startTestServer(store: EventStore, config: Partial<RoomConfig> = {}, log?: Log): Promise<TestServer> {
  const rooms = createRoomManager({ store, config, log })
  const http = createServer((_req, res) => {
    res.statusCode = 404
    res.end()
  })
  const endpoint = attachSyncEndpoint(http, {
    rooms,
    maxPayload: config.maxMessageBytes,
    async authenticate(req) {
      const params = new URL(req.url ?? '/', 'http://localhost').searchParams
      const role = params.get('role') ?? 'editor'
      if (!roles.includes(role as Role)) return { close: { code: 4401, reason: `unknown role ${role}` } }
      const identity = openIdentity({ id: params.get('id'), name: params.get('name'), kind: params.get('kind'), run: params.get('run') })
      return { ...identity, role: role as Role }
    },
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/sync`,
    port,
    store,
    rooms,
    http,
    async close() {
      await endpoint.close()
      await rooms.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

export interface ClientParams {
  id?: string
  name?: string
  kind?: 'human' | 'agent'
  role?: Role
}

export interface TestClient {
  doc: Y.Doc
  provider: WebsocketProvider
  /** Resolves when the provider has received the server's state (sync step 2). */
  synced(): Promise<void>
  destroy(): void
}

export function connectClient(server: Pick<TestServer, 'url'>, session: string, params: ClientParams = {}, doc = new Y.Doc()): TestClient {
  const query: Record<string, string> = {}
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query[key] = value
  const provider = new WebsocketProvider(server.url, session, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    params: query,
    maxBackoffTime: 200,
  })
  return {
    doc,
    provider,
    synced: () => until(() => provider.synced, { what: `${params.name ?? 'client'} to sync` }),
    destroy() {
      provider.destroy()
      doc.destroy()
    },
  }
}


/** Same integrated operations: equal state vectors and delete sets. */
export function sameDoc(a: Y.Doc, b: Y.Doc): boolean {
  const svA = Buffer.from(Y.encodeStateVector(a))
  const svB = Buffer.from(Y.encodeStateVector(b))
  if (!svA.equals(svB)) return false
  return Y.equalDeleteSets(Y.createDeleteSetFromStructStore(a.store), Y.createDeleteSetFromStructStore(b.store))
}

/** Waits until every doc (and the room's, when loaded) integrated the same operations. */
export async function converged(server: TestServer, session: string, docs: Y.Doc[], timeoutMs?: number): Promise<void> {
  await until(() => {
    const room = server.rooms.docOf(session)
    const all = room ? [room, ...docs] : docs
    return all.every((doc) => sameDoc(doc, all[0]!))
  }, { what: `${docs.length} docs to converge in ${session}`, timeout: timeoutMs })
}

/** The close event (code, reason) a raw ws client gets from `url`. */
export function closeOf(url: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    ws.on('error', (error) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(error)
    })
  })
}

/**
 * A stand-in for a ws WebSocket, for driving a room manager without a network: frames the
 * server sends are collected (or handed to `onSend`), `bufferedAmount` can be set, and
 * `close()` reports a close event as ws does (asynchronously).
 */
export class FakeSocket extends EventEmitter {
  readyState = 1
  bufferedAmount = 0
  sent: Uint8Array[] = []
  closedWith: { code?: number; reason?: string } | undefined
  constructor(private readonly onSend?: (frame: Uint8Array) => void) {
    super()
  }
  send(data: Uint8Array): void {
    if (this.onSend) this.onSend(data)
    else this.sent.push(data)
  }
  close(code?: number, reason?: string): void {
    if (this.readyState !== 1) return
    this.readyState = 2
    this.closedWith = { code, reason }
    queueMicrotask(() => this.gone(code ?? 1005))
  }
  /** The peer receives a frame from the client. */
  deliver(frame: Uint8Array): void {
    this.emit('message', Buffer.from(frame), true)
  }
  /** The connection is gone (the client closed, or the network dropped it). */
  gone(code = 1006): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.emit('close', code, Buffer.alloc(0))
  }
}
