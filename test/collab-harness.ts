/**
 * Shared by the collab tests: a small node:http server with the sync endpoint and a room
 * manager on a given store (open-mode identities from `?id=&name=&kind=&role=`), stock
 * y-websocket clients in Node, and a wait-until helper (waits, never timing assertions).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { openIdentity, roles, type Role } from '../src/auth/identity.js'
import { createRoomManager, type RoomManager } from '../src/collab/createRoomManager.js'
import type { RoomConfig } from '../src/collab/types.js'
import { attachSyncEndpoint } from '../src/collab/upgrade.js'
import type { EventStore } from '../src/store/types.js'

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

export async function startTestServer(store: EventStore, config: Partial<RoomConfig> = {}): Promise<TestServer> {
  const rooms = createRoomManager({ store, config })
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
    synced: () => until(() => provider.synced, `${params.name ?? 'client'} to sync`),
    destroy() {
      provider.destroy()
      doc.destroy()
    },
  }
}

/** Waits (polling) until `predicate` holds; fails after `timeoutMs` naming what it waited for. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await predicate()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
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
  }, `${docs.length} docs to converge in ${session}`, timeoutMs)
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
