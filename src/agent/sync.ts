/**
 * The SDK's sync connection: a stock y-websocket `WebsocketProvider` (Node's `ws` supplied)
 * on `ws(s)://HOST:PORT/sync/<session>`, resolved once the first sync completes. It
 * reconnects on its own; a refusal (4400, 4401, 4403, and 4429 for a spent per-run budget) is
 * final and kept as a MnemoError.
 */
import WebSocket from 'ws'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { WebsocketProvider } from 'y-websocket'
import { errorFromClose, MnemoError, spentBudget } from './errors.js'

export interface SyncOptions {
  /** The server's base URL, `http://…` or `https://…` (joinSession checked it). */
  url: string
  session: string
  params: Record<string, string>
  /** A WebSocket class; default Node's `ws`. */
  WebSocket?: unknown
  /** How long to wait for the first sync. */
  timeoutMs: number
  /** The awareness state sent on connect. */
  presence: Record<string, unknown>
}

export interface SyncConnection {
  doc: Y.Doc
  awareness: Awareness
  provider: WebsocketProvider
  /** The server's final refusal, once there is one. */
  refusal(): MnemoError | undefined
  onRefusal(listener: (error: MnemoError) => void): void
  destroy(): void
}

/** Close codes after which reconnecting cannot help. 4429 (rate limit) is worth a retry. */
const FINAL = new Set([4400, 4401, 4403])

function syncUrl(url: string): string {
  return `${url.replace(/\/+$/, '').replace(/^http/, 'ws')}/sync`
}

export function connectSync(options: SyncOptions): Promise<SyncConnection> {
  const serverUrl = syncUrl(options.url)
  const doc = new Y.Doc()
  const awareness = new Awareness(doc)
  awareness.setLocalState(options.presence)
  const provider = new WebsocketProvider(serverUrl, options.session, doc, {
    awareness,
    params: options.params,
    WebSocketPolyfill: (options.WebSocket ?? WebSocket) as never,
    disableBc: true,
    shouldReconnect: (event) => !FINAL.has(event.code) && !spentBudget(event.code, event.reason),
  })
  let refusal: MnemoError | undefined
  const listeners: Array<(error: MnemoError) => void> = []
  let lastProblem = ''
  provider.on('connection-error', (event) => {
    lastProblem = (event as unknown as { message?: string }).message ?? 'connection error'
  })
  provider.on('connection-close', (event) => {
    if (event) lastProblem = `closed with ${event.code}${event.reason ? `: ${event.reason}` : ''}`
  })
  provider.on('closed', ({ code, reason }) => {
    refusal = errorFromClose(code, reason, `${serverUrl}/${options.session}`)
    for (const listener of listeners) listener(refusal)
  })

  const connection: SyncConnection = {
    doc,
    awareness,
    provider,
    refusal: () => refusal,
    onRefusal: (listener) => void listeners.push(listener),
    destroy() {
      provider.destroy()
      awareness.destroy()
      doc.destroy()
    },
  }

  return new Promise<SyncConnection>((resolve, reject) => {
    const fail = (error: MnemoError) => {
      clearTimeout(timer)
      connection.destroy()
      reject(error)
    }
    const timer = setTimeout(() => fail(new MnemoError(0, 'timeout',
      `could not sync session "${options.session}" with ${serverUrl} within ${options.timeoutMs / 1000} s ` +
      `(${lastProblem || 'no answer'}); is the server running at that address?`)), options.timeoutMs)
    listeners.push((error) => {
      if (!provider.synced) fail(error)
    })
    const onSync = (synced: boolean) => {
      if (!synced) return
      provider.off('sync', onSync)
      clearTimeout(timer)
      resolve(connection)
    }
    provider.on('sync', onSync)
  })
}
