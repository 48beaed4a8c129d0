/**
 * Three `mnemo serve` processes on one database behind a real HAProxy (the README's
 * configuration, test/fixtures/haproxy.ts): 60 stock clients over 10 sessions connect through
 * the balancer and edit continuously; one instance is killed with SIGKILL mid-run. Every
 * client reconnects through the balancer by itself, all converge, nothing any client saw is
 * lost, presence converges again (the dead instance's states are gone, the reconnected ones
 * are back) and the registry lists two live instances.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { getSelections } from '../src/session/roots.js'
import { connectClient, type ChildServer } from './fixtures/child.js'
import { startBalancedInstances, type BalancedInstances, type EditingClient } from './fixtures/balanced.js'
import { databaseAvailable } from './fixtures/cluster.js'
import { haproxyAvailable, type Balancer } from './fixtures/haproxy.js'
import { call } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SESSIONS = 10
const PER_SESSION = 6
/** Each client writes one selection per tick while the run lasts. */
const TICK_MS = 200

describe.skipIf(!databaseAvailable || !haproxyAvailable)('three instances behind HAProxy, one killed mid-run', () => {
  let cluster: BalancedInstances
  let servers: ChildServer[]
  let balancer: Balancer
  let clients: EditingClient[]

  beforeAll(async () => {
    cluster = await startBalancedInstances({ MNEMO_PRESENCE_TIMEOUT_MS: '2000' })
    ;({ servers, balancer, clients } = cluster)
  })
  afterAll(async () => cluster?.close())

  it('every client reconnects by itself, all converge, and nothing anyone saw is lost', async () => {
    cluster.connect('lb', SESSIONS, PER_SESSION)
    await until(() => clients.every((c) => c.synced()), { what: '60 clients synced through the balancer', timeout: 30_000 })
    const stopWriting = cluster.write(TICK_MS)
    try {
      // Mid-run: every session has seen edits from others.
      await until(() => clients.every((c) => c.seen.size >= 10), { what: 'every client to see 10 edits of others', timeout: 30_000 })
      const victim = servers[1]!
      await victim.kill('SIGKILL')
      await until(() => clients.filter((c) => c.closes() > 0).length > 0, { what: 'the killed instance\'s clients to notice' })
      const dropped = clients.filter((c) => c.closes() > 0)
      // The balancer spreads connections round robin: about a third were on the killed one.
      expect(dropped.length).toBeGreaterThan(0)
      expect(dropped.length).toBeLessThan(clients.length)
      await until(() => clients.every((c) => c.synced()), { what: 'every client to be back and synced', timeout: 30_000 })
      const afterKill = new Map(clients.map((c) => [c, c.written]))
      await until(() => clients.every((c) => c.written >= afterKill.get(c)! + 5), { what: 'every client to write 5 more edits', timeout: 30_000 })
    } finally {
      stopWriting()
    }

    const bySession = new Map<string, typeof clients>()
    for (const c of clients) bySession.set(c.session, [...(bySession.get(c.session) ?? []), c])
    // What the log holds: a fresh client of each session, through the balancer. Updates still on
    // their way reach it as they reach the others: wait until it and every client hold the same.
    const keys = (doc: Y.Doc) => [...getSelections(doc).keys()].sort().join()
    let lost = 0
    let seen = 0
    for (const [session, group] of bySession) {
      const fresh = connectClient(balancer.url, session, `fresh-${session}`)
      try {
        await until(() => fresh.synced(), { what: `a fresh client of ${session} synced` })
        await until(() => group.every((c) => keys(c.doc) === keys(fresh.doc)), {
          what: `the clients of ${session} and a fresh one to hold the same selections`, timeout: 30_000,
        })
        const stored = new Set(getSelections(fresh.doc).keys())
        for (const c of group) {
          seen += c.seen.size
          lost += [...c.seen].filter((key) => !stored.has(key)).length
        }
      } finally {
        fresh.destroy()
      }
    }
    console.log(`balancer test: ${clients.filter((c) => c.closes() > 0).length} of 60 clients reconnected after kill -9; ` +
      `${seen} (client, update) pairs seen, ${lost} lost`)
    expect(lost).toBe(0)

    // Presence: each client sees exactly the states of its session's live clients.
    await until(() => [...bySession.values()].every((group) => {
      const live = new Set(group.map((c) => c.doc.clientID))
      return group.every((c) => {
        const states = [...c.provider.awareness.getStates().keys()]
        return states.length === live.size && states.every((id) => live.has(id))
      })
    }), {
      what: 'presence to converge: the dead instance\'s states gone, the reconnected ones back',
      // With both cores loaded a removal can reach a client after the reconnected state it
      // undoes; the client's next renewal (y-protocols renews every 15 s) sets it right.
      timeout: 40_000,
    })

    // The registry: two live instances once the dead one missed its heartbeats.
    await until(async () => {
      const { body } = await call(balancer.url, 'GET', '/api/instances')
      return (body.instances as Array<{ id: string }>).map((i) => i.id).sort().join() === 'inst-1,inst-3'
    }, { what: '/api/instances to list inst-1 and inst-3 only' })
  }, 150_000)
})
