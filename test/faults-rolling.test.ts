/**
 * A rolling restart behind a real HAProxy: three `mnemo serve` processes on one database, stock
 * clients editing through the balancer while each instance in turn gets SIGTERM and is started
 * again on its port before the next one goes. Clients see nothing but reconnects (every close is
 * 1012, "go elsewhere"), HTTP callers through the balancer get no error, every client converges
 * and nothing any client saw is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { getSelections } from '../src/session/roots.js'
import { connectClient, startChildServer, type ChildServer } from './fixtures/child.js'
import { startBalancedInstances, type BalancedInstances, type EditingClient } from './fixtures/balanced.js'
import { databaseAvailable } from './fixtures/cluster.js'
import { haproxyAvailable, type Balancer } from './fixtures/haproxy.js'
import { until } from './fixtures/until.js'

const SESSIONS = 4
const PER_SESSION = 4
const TICK_MS = 200

describe.skipIf(!databaseAvailable || !haproxyAvailable)('a rolling restart of three instances behind HAProxy', () => {
  let cluster: BalancedInstances
  let servers: ChildServer[]
  let balancer: Balancer
  let clients: EditingClient[]
  let env: Record<string, string>

  beforeAll(async () => {
    // Draining: /health fails for 1 s (HAProxy checks every 300 ms, down after 2 failures) before sockets close with 1012.
    cluster = await startBalancedInstances({ MNEMO_SHUTDOWN_DELAY_MS: '1000' })
    ;({ servers, balancer, clients, env } = cluster)
  })
  afterAll(async () => cluster?.close())

  it('clients see only reconnects, HTTP callers no error, and nothing anyone saw is lost', async () => {
    cluster.connect('roll', SESSIONS, PER_SESSION)
    await until(() => clients.every((c) => c.synced()), { what: 'the clients synced through the balancer', timeout: 30_000 })
    const stopWriting = cluster.write(TICK_MS)
    // An HTTP caller reading through the balancer all along.
    const httpStatuses = new Map<number, number>()
    let polling = true
    const poller = (async () => {
      while (polling) {
        const response = await fetch(`${balancer.url}/api/sessions/roll-0/state`).catch(() => undefined)
        const status = response?.status ?? 0
        await response?.arrayBuffer()
        httpStatuses.set(status, (httpStatuses.get(status) ?? 0) + 1)
      }
    })()
    try {
      await until(() => clients.every((c) => c.seen.size >= 5), { what: 'every client to see 5 edits of others', timeout: 30_000 })
      for (let i = 0; i < servers.length; i++) {
        const old = servers[i]!
        const closesBefore = clients.reduce((n, c) => n + c.closes(), 0)
        await old.stop()
        servers[i] = await startChildServer({ ...env, MNEMO_INSTANCE_ID: `inst-${i + 1}` }, { port: old.port })
        await until(() => clients.every((c) => c.synced()), { what: `every client back after restarting inst-${i + 1}`, timeout: 30_000 })
        // Each restart sent somebody elsewhere (round robin spreads the clients over all three).
        expect(clients.reduce((n, c) => n + c.closes(), 0)).toBeGreaterThan(closesBefore)
      }
      const after = new Map(clients.map((c) => [c, c.written]))
      await until(() => clients.every((c) => c.written >= after.get(c)! + 3), { what: 'every client to write 3 more edits', timeout: 30_000 })
    } finally {
      stopWriting()
      polling = false
      await poller
    }

    const codes = new Map<number, number>()
    for (const c of clients) for (const code of c.closeCodes) codes.set(code, (codes.get(code) ?? 0) + 1)
    console.log(`rolling restart: closes by code ${JSON.stringify(Object.fromEntries(codes))}; HTTP statuses ${JSON.stringify(Object.fromEntries(httpStatuses))}`)
    expect([...codes.keys()]).toEqual([1012])
    expect([...httpStatuses.keys()]).toEqual([200])

    const keys = (doc: Y.Doc) => [...getSelections(doc).keys()].sort().join()
    let lost = 0
    for (let s = 0; s < SESSIONS; s++) {
      const group = clients.filter((c) => c.session === `roll-${s}`)
      const fresh = connectClient(balancer.url, `roll-${s}`, `fresh-${s}`)
      try {
        await until(() => fresh.synced() && group.every((c) => keys(c.doc) === keys(fresh.doc)), {
          what: `the clients of roll-${s} and a fresh one to hold the same selections`, timeout: 30_000,
        })
        const stored = new Set(getSelections(fresh.doc).keys())
        for (const c of group) lost += [...c.seen].filter((key) => !stored.has(key)).length
      } finally {
        fresh.destroy()
      }
    }
    expect(lost).toBe(0)
  }, 120_000)
})
