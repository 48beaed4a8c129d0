/**
 * The crash test of the Hocuspocus dialect: the server runs as a child process, a
 * `@hocuspocus/provider` (4.x) writes bursts of updates, each burst once the provider reports
 * the one before synced (`unsyncedChanges` 0). The server is killed with SIGKILL while a burst
 * is in flight and restarted on the same database: a fresh client must hold every update the
 * provider had been told was stored — its acknowledgements come only after the append.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from 'hocuspocus-provider-4'
import { getSelections } from '../src/session/roots.js'
import { select } from '../src/session/write.js'
import { call } from './fixtures/server.js'
import { connectClient, startChildServer, type ChildServer, type StockClient } from './fixtures/child.js'
import { databaseAvailable, databaseEnv, freshDatabase, type FreshDatabase } from './fixtures/cluster.js'
import { until } from './fixtures/until.js'

/** Updates of one burst, each its own transaction (so its own message and acknowledgement). */
const BURST = 25
/** Acknowledged updates at which the server is killed, the next burst just sent. */
const KILL_AT = 300

describe.skipIf(!databaseAvailable)('kill -9 of the server under a Hocuspocus provider', () => {
  let db: FreshDatabase
  const servers: ChildServer[] = []
  const clients: StockClient[] = []
  let socket: HocuspocusProviderWebsocket | undefined
  let provider: HocuspocusProvider | undefined

  beforeAll(async () => {
    db = (await freshDatabase())!
  })
  afterAll(async () => {
    provider?.destroy()
    socket?.destroy()
    for (const c of clients) c.destroy()
    for (const s of servers) await s.kill()
    await db?.close()
  })

  it('a fresh client after the restart holds every update the provider was told was synced', async () => {
    const env = databaseEnv(db)
    const first = await startChildServer(env)
    servers.push(first)
    const session = 'hocus-crash'
    const doc = new Y.Doc()
    socket = new HocuspocusProviderWebsocket({ url: `${first.url.replace('http', 'ws')}/hocuspocus`, WebSocketPolyfill: WebSocket })
    provider = new HocuspocusProvider({ websocketProvider: socket, name: session, document: doc, token: '' })
    provider.attach()
    const p = provider
    await until(() => p.isAuthenticated && p.synced && p.unsyncedChanges === 0, { what: 'the provider to settle' })

    let written = 0
    /** Updates written before the provider last reported 0 unsynced changes: all stored, it was told. */
    let acknowledged = 0
    let killed: Promise<void> | undefined
    const burst = () => {
      for (let i = 0; i < BURST; i++) select(doc, `k${written++}`, 'writer')
    }
    p.on('unsyncedChanges', ({ number }: { number: number }) => {
      if (number !== 0 || killed) return
      acknowledged = written
      burst()
      // The next burst is on the wire (or in the socket's buffer) when the server dies.
      if (acknowledged >= KILL_AT) killed = first.kill('SIGKILL')
    })
    burst()
    await until(() => killed !== undefined, { what: `${KILL_AT} updates acknowledged`, explain: () => ({ acknowledged, unsynced: p.unsyncedChanges }) })
    await killed
    await until(() => !p.synced || p.unsyncedChanges > 0, { what: 'the provider to notice the crash' })
    const told = acknowledged
    const writtenAtKill = written
    // Nothing may be resent after the restart: only the log may bring updates back.
    p.destroy()
    socket.destroy()
    provider = undefined
    socket = undefined

    const second = await startChildServer(env, { port: first.port })
    servers.push(second)
    const fresh = connectClient(second.url, session, 'fresh')
    clients.push(fresh)
    await until(() => fresh.synced(), { what: 'a fresh client synced with the restarted server' })
    const stored = new Set(getSelections(fresh.doc).keys())
    const lost = Array.from({ length: told }, (_, i) => `k${i}`).filter((key) => !stored.has(key))
    console.log(`hocuspocus crash test: ${writtenAtKill} written, ${told} acknowledged before kill -9, ` +
      `the restarted server holds ${stored.size}; acknowledged but lost: ${lost.length}`)

    expect(told).toBeGreaterThanOrEqual(KILL_AT)
    expect(writtenAtKill).toBe(told + BURST)
    expect(lost).toEqual([])
    expect(stored.size).toBeLessThanOrEqual(writtenAtKill)
    const verified = await call(second.url, 'GET', `/api/sessions/${session}/verify`)
    expect(verified.body).toMatchObject({ ok: true })
  })
})
