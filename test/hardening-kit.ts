/**
 * Shared by the hardening tests: raw `ws` clients that speak the sync protocol by hand (and
 * report how they were closed), stock y-websocket providers, and reading a session's log.
 */
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import type { EventStore, StoredEvent } from '../src/store/types.js'
import { until } from './fixtures/until.js'

process.setMaxListeners(500)

export interface Closed {
  code: number
  reason: string
}

export interface RawClient {
  ws: WebSocket
  /** Frames the server sent, in order. */
  received: Uint8Array[]
  /** Settles when the socket closes (never rejects). */
  closed: Promise<Closed>
  /** Resolves once the server's first frame (its sync step 1: the room is joined) arrived, or the socket closed. */
  greeted: Promise<void>
  /** Resolves true once every frame sent so far was handled (ping answered), false when the socket closed first. */
  handled(): Promise<boolean>
}

/** Opens a raw sync connection; resolves when it is open (or closed during the handshake). */
export function rawClient(url: string, headers: Record<string, string> = {}): Promise<RawClient> {
  const ws = new WebSocket(url, { headers })
  const received: Uint8Array[] = []
  let greet!: () => void
  const greeted = new Promise<void>((resolve) => (greet = resolve))
  const closed = new Promise<Closed>((resolve) => {
    ws.on('close', (code, reason) => {
      greet()
      resolve({ code, reason: reason.toString() })
    })
  })
  ws.on('error', () => {}) // the close event reports the outcome
  ws.on('message', (data) => {
    received.push(new Uint8Array(data as Buffer))
    greet()
  })
  const client: RawClient = {
    ws,
    received,
    closed,
    greeted,
    handled() {
      if (ws.readyState !== WebSocket.OPEN) return Promise.resolve(false)
      // The server handles frames in order and synchronously, so its pong follows the handling
      // of every earlier frame; after closing, it answers no ping.
      return new Promise<boolean>((resolve) => {
        const onPong = () => resolve(true)
        ws.once('pong', onPong)
        void closed.then(() => {
          ws.off('pong', onPong)
          resolve(false)
        })
        ws.ping()
      })
    },
  }
  return new Promise((resolve) => {
    ws.once('open', () => resolve(client))
    void closed.then(() => resolve(client))
  })
}

/** The close a connection to `url` gets without sending anything. */
export async function closeOf(url: string, headers: Record<string, string> = {}): Promise<Closed> {
  const client = await rawClient(url, headers)
  const timer = setTimeout(() => client.ws.terminate(), 10_000)
  const closed = await client.closed
  clearTimeout(timer)
  return closed
}

export interface Peer {
  doc: Y.Doc
  provider: WebsocketProvider
  /** Close codes the provider saw, in order. */
  closes: number[]
  synced(): Promise<void>
  destroy(): void
}

/** A stock provider on `base` (`ws://host:port/sync`), with `params` in its URL. */
export function peer(base: string, session: string, params: Record<string, string>, doc = new Y.Doc()): Peer {
  const provider = new WebsocketProvider(base, session, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    params,
    maxBackoffTime: 300,
  })
  const closes: number[] = []
  provider.on('connection-close', (event: { code: number } | null) => {
    if (event) closes.push(event.code)
  })
  return {
    doc,
    provider,
    closes,
    synced: () => until(() => provider.synced, { what: `${params.name ?? params.id ?? 'peer'} to sync` }),
    destroy() {
      provider.destroy()
      doc.destroy()
    },
  }
}


/** Every event of a session, oldest first. */
export async function sessionLog(store: EventStore, session: string): Promise<StoredEvent[]> {
  const all: StoredEvent[] = []
  for (let after = 0; ;) {
    const page = await store.read(session, { after, limit: 1000 })
    all.push(...page)
    if (page.length < 1000) return all
    after = page.at(-1)!.position
  }
}

/** Same integrated operations: equal state vectors and delete sets. */
export function sameDoc(a: Y.Doc, b: Y.Doc): boolean {
  if (!Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b)))) return false
  return Y.equalDeleteSets(Y.createDeleteSetFromStructStore(a.store), Y.createDeleteSetFromStructStore(b.store))
}

/** A Yjs update that adds something new: a selection in a fresh doc. */
export function freshUpdate(key = `m-${Math.random().toString(36).slice(2)}`, bytes = 0): Uint8Array {
  const doc = new Y.Doc()
  doc.getMap('selections').set(key, { by: 'x', at: 1, pad: 'x'.repeat(bytes) })
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}
