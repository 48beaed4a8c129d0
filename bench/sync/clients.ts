/**
 * Bench clients: one Y.Doc and one stock y-websocket `WebsocketProvider` each, connected
 * to the server under test in batches so that hundreds of handshakes never stall the
 * generator, with every connection-level failure counted rather than thrown.
 */
import * as Y from 'yjs'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusSocket } from './hocuspocusSocket.js'
import type { Target } from './scenarios.js'

export interface BenchClient {
  index: number
  session: string
  doc: Y.Doc
  selections: Y.Map<SelectionValue>
  provider: WebsocketProvider
  synced: boolean
  /** When the provider first reported `synced` (see `now`). */
  syncedAt: number
  /** When its provider was created (it connects at once). */
  createdAt: number
}

/** The session document's `selections` entry, with `at` as a sub-millisecond epoch time. */
export interface SelectionValue {
  by: string
  at: number
}

export interface ConnectionCounters {
  errors: number
  closes: number
}

/** Epoch milliseconds with sub-millisecond resolution; every client shares this clock. */
export const now = (): number => performance.timeOrigin + performance.now()

export function sessionName (scenario: string, index: number): string {
  return `${scenario.toLowerCase()}-${String(index).padStart(4, '0')}`
}

export function createClient (target: Target, session: string, index: number, counters: ConnectionCounters): BenchClient {
  const doc = new Y.Doc()
  const polyfill = target.framing === 'hocuspocus' ? HocuspocusSocket : WebSocket
  const provider = new WebsocketProvider(target.url, session, doc, {
    // The provider's type names the DOM WebSocket; `ws` and the shim offer the part it uses.
    WebSocketPolyfill: polyfill as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    params: target.withIdentity ? { id: `bench-${index}`, name: `bench ${index}`, kind: 'human' } : {}
  })
  const client: BenchClient = {
    index, session, doc, provider, synced: false, syncedAt: 0, createdAt: now(), selections: doc.getMap<SelectionValue>('selections')
  }
  provider.on('sync', (isSynced: boolean) => { 
    if (isSynced && !client.synced) { client.synced = true; client.syncedAt = now() }
  })
  provider.on('connection-error', () => { counters.errors++ })
  provider.on('connection-close', () => { counters.closes++ })
  return client
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export interface RampOptions {
  batchSize: number
  /** Longest wait for one batch to sync before the next batch starts anyway. */
  batchTimeoutMs: number
  /** After the last batch, longest wait for stragglers to sync. */
  deadlineMs: number
  onProgress?: (text: string) => void
}

/**
 * Connects `sessions × perSession` clients, session-major (client i is in session
 * ⌊i / perSession⌋), a batch at a time; resolves when all synced or the deadline passed.
 */
export async function connectClients (
  target: Target, scenario: string, sessions: number, perSession: number,
  counters: ConnectionCounters, options: RampOptions
): Promise<{ clients: BenchClient[], connectMs: number }> {
  const clients: BenchClient[] = []
  const total = sessions * perSession
  const started = now()
  let lastReport = started
  for (let first = 0; first < total; first += options.batchSize) {
    const batch: BenchClient[] = []
    for (let i = first; i < Math.min(total, first + options.batchSize); i++) {
      batch.push(createClient(target, sessionName(scenario, Math.floor(i / perSession)), i, counters))
    }
    clients.push(...batch)
    const batchDeadline = now() + options.batchTimeoutMs
    while (batch.some(c => !c.synced) && now() < batchDeadline) await sleep(5)
    if (options.onProgress !== undefined && now() - lastReport > 2_000) {
      lastReport = now()
      options.onProgress(`connected ${clients.filter(c => c.synced).length}/${total}`)
    }
  }
  const deadline = now() + options.deadlineMs
  while (clients.some(c => !c.synced) && now() < deadline) await sleep(20)
  const lastSynced = clients.reduce((latest, c) => Math.max(latest, c.syncedAt), started)
  return { clients, connectMs: lastSynced - started }
}

/** Tears every client down; afterwards the generator holds no sockets or timers. */
export function destroyClients (clients: BenchClient[]): void {
  for (const client of clients) {
    client.provider.destroy()
    client.doc.destroy()
  }
}
