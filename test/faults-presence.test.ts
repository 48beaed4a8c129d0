/**
 * Presence across instances: two servers on one database, stock `WebsocketProvider` clients
 * on each. A state set on one instance is seen (stamped with the identity's `user`) on the
 * other, its removal too, over PostgreSQL NOTIFY and again over Redis pub/sub; a state too
 * long for a NOTIFY still crosses; and when an instance's process is killed, its clients'
 * states leave the other instance within the presence timeout. Nothing of it is in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../src/main.js'
import { connectClient, startChildServer, type StockClient } from './fixtures/child.js'
import { childServersOnFreshDatabase } from './fixtures/childHarness.js'
import { databaseAvailable, databaseEnv, type FreshDatabase } from './fixtures/cluster.js'
import { startTwoInstances, type TwoInstances } from './fixtures/instances.js'
import { presenceMessages } from './fixtures/metrics.js'
import { call } from './fixtures/server.js'
import { until } from './fixtures/until.js'
import { freshPrefix, REDIS_URL, withRedis } from './fixtures/redis.js'


/** The state another client shows for `client` (by its awareness client id). */
const stateSeen = (viewer: StockClient, client: StockClient) =>
  viewer.provider.awareness.getStates().get(client.doc.clientID) as Record<string, any> | undefined

function presenceAcross(transport: 'postgres' | 'redis') {
  describe.skipIf(!databaseAvailable || (transport === 'redis' && !withRedis))(`presence across two instances over ${transport}`, () => {
    let pair: TwoInstances
    let db: FreshDatabase
    let a: RunningServer
    let b: RunningServer
    let clients: StockClient[]
    let join: TwoInstances['join']

    beforeAll(async () => {
      pair = await startTwoInstances(transport === 'redis' ? { MNEMO_REDIS_URL: REDIS_URL, MNEMO_REDIS_PREFIX: freshPrefix() } : {})
      ;({ db, a, b, clients, join } = pair)
    })
    afterAll(async () => pair?.close())

    it('a state set on one instance reaches the other, stamped, and its removal too', async () => {
      const session = `p-${transport}`
      const ann = join(a, session, 'ann')
      const bea = join(b, session, 'bea')
      await until(() => ann.synced() && bea.synced(), { what: 'both synced' })
      // A spoofed user is overwritten by the identity's on the way in, on either instance.
      ann.provider.awareness.setLocalState({ cursor: { index: 7 }, user: { id: 'mallory', name: 'Mallory' } })
      await until(() => stateSeen(bea, ann)?.cursor?.index === 7, { what: 'ann\'s cursor on instance b' })
      expect(stateSeen(bea, ann)!.user).toMatchObject({ id: 'ann', name: 'ann' })
      bea.provider.awareness.setLocalStateField('cursor', { index: 3 })
      await until(() => stateSeen(ann, bea)?.cursor?.index === 3, { what: 'bea\'s cursor on instance a' })
      expect(stateSeen(ann, bea)!.user).toMatchObject({ id: 'bea' })

      // A latecomer on b sees ann (held by a) at once.
      const bo = join(b, session, 'bo')
      await until(() => stateSeen(bo, ann)?.cursor?.index === 7, { what: 'a latecomer sees the other instance\'s state' })

      // A state too long for one NOTIFY (8,000 bytes) crosses too.
      const long = 'x'.repeat(20_000)
      ann.provider.awareness.setLocalStateField('note', long)
      await until(() => stateSeen(bea, ann)?.note === long, { what: 'a 20 kB state on instance b' })

      ann.destroy()
      await until(() => stateSeen(bea, ann) === undefined && stateSeen(bo, ann) === undefined, { what: 'ann gone on instance b' })
      // Presence is not in the log.
      const { body } = await call(a.url, 'GET', `/api/sessions/${session}/events?limit=1000`)
      expect(body.events.map((e: { type: string }) => e.type)).not.toContain('awareness')
      expect(JSON.stringify(body.events)).not.toContain('cursor')
    })
  })
}

presenceAcross('postgres')
presenceAcross('redis')

describe.skipIf(!databaseAvailable)('a lone instance', () => {
  const run = childServersOnFreshDatabase()
  const { servers, clients } = run

  it('sends no states while alone, and both ways at once once a second instance loads the session', async () => {
    // The first instance's registry beats once, at start: it never sees the second one here, so
    // only the second one's question (it sees the first) can start the first one sending.
    const one = await startChildServer({ ...databaseEnv(run.db()), MNEMO_HEARTBEAT_MS: '600000' })
    servers.push(one)
    const session = 'alone'
    const [ann, amy] = ['ann', 'amy'].map((name) => connectClient(one.url, session, name))
    clients.push(ann!, amy!)
    await until(() => ann!.synced() && amy!.synced(), { what: 'both synced' })
    for (const index of [1, 2, 3]) {
      ann!.provider.awareness.setLocalStateField('cursor', { index })
      await until(() => stateSeen(amy!, ann!)?.cursor?.index === index, { what: `ann's cursor ${index} on the same instance` })
    }
    // Not even the room's question for the others' states when it loaded: nobody was there.
    expect(await presenceMessages(one.url)).toEqual({ sent: 0, received: 0 })

    const two = await startChildServer(databaseEnv(run.db()))
    servers.push(two)
    const bea = connectClient(two.url, session, 'bea')
    clients.push(bea)
    await until(() => stateSeen(bea, ann!)?.cursor?.index === 3, { what: 'ann\'s state on the second instance' })
    bea.provider.awareness.setLocalStateField('cursor', { index: 9 })
    await until(() => stateSeen(ann!, bea)?.cursor?.index === 9, { what: 'bea\'s state on the first instance' })
    ann!.provider.awareness.setLocalStateField('cursor', { index: 4 })
    await until(() => stateSeen(bea, ann!)?.cursor?.index === 4, { what: 'ann\'s change on the second instance' })
    const counted = await presenceMessages(one.url)
    expect(counted.sent).toBeGreaterThan(1)
    expect(counted.received).toBeGreaterThan(0)
  })
})

describe.skipIf(!databaseAvailable)('an instance killed', () => {
  const run = childServersOnFreshDatabase()
  const { servers, clients } = run

  for (const transport of ['postgres', 'redis'] as const) {
    it.skipIf(transport === 'redis' && !withRedis)(`takes its clients' states with it within the timeout (${transport})`, async () => {
      const env = {
        ...databaseEnv(run.db()),
        MNEMO_PRESENCE_TIMEOUT_MS: '1500',
        ...(transport === 'redis' ? { MNEMO_REDIS_URL: REDIS_URL, MNEMO_REDIS_PREFIX: freshPrefix() } : {}),
      }
      const one = await startChildServer(env)
      servers.push(one)
      const two = await startChildServer(env)
      servers.push(two)
      const session = `killed-${transport}`
      const doomed = connectClient(one.url, session, 'doomed')
      const staying = connectClient(two.url, session, 'staying')
      clients.push(doomed, staying)
      await until(() => doomed.synced() && staying.synced(), { what: 'both synced' })
      doomed.provider.awareness.setLocalStateField('cursor', { index: 1 })
      staying.provider.awareness.setLocalStateField('cursor', { index: 2 })
      await until(() => stateSeen(staying, doomed)?.cursor?.index === 1, { what: 'the doomed client\'s state on instance two' })
      // The refreshes keep it there past the timeout while its instance lives.
      const seenSince = Date.now()
      await until(() => Date.now() - seenSince > 2000 && stateSeen(staying, doomed) !== undefined, { what: 'kept past the timeout', timeout: 10_000 })
      await one.kill('SIGKILL')
      await until(() => stateSeen(staying, doomed) === undefined, { what: 'the dead instance\'s client gone on instance two', timeout: 10_000 })
      expect(stateSeen(staying, staying)?.cursor?.index).toBe(2)
    })
  }
})
