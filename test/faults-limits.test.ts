/**
 * Limits shared through Redis by two instances on one database: the per-session connection cap
 * and the per-identity HTTP rate count every instance's connections and requests; a killed
 * instance's slots stop counting once its heartbeat key expires; and when Redis does not answer,
 * each instance falls back to counting its own.
 */
import { Hono } from 'hono'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSharedLimits, type SharedLimits } from '../src/control/sharedLimits.js'
import { silentLog } from '../src/collab/types.js'
import { createErrorHandler } from '../src/http/errors.js'
import { rateLimit } from '../src/http/middleware/rateLimit.js'
import type { RunningServer } from '../src/main.js'
import { closeOf, rawClient, type RawClient } from './fixtures/clients.js'
import { databaseAvailable } from './fixtures/cluster.js'
import { startTwoInstances, type TwoInstances } from './fixtures/instances.js'
import { freshPrefix, REDIS_URL, withRedis } from './fixtures/redis.js'
import { call } from './fixtures/server.js'
import { until } from './fixtures/until.js'

describe.skipIf(!databaseAvailable || !withRedis)('limits shared by two instances through Redis', () => {
  let pair: TwoInstances
  const raws: RawClient[] = []
  beforeAll(async () => {
    pair = await startTwoInstances({
      MNEMO_REDIS_URL: REDIS_URL,
      MNEMO_REDIS_PREFIX: freshPrefix(),
      MNEMO_MAX_CONNECTIONS_PER_SESSION: '3',
      MNEMO_RATE_HTTP_PER_SEC: '1',
      MNEMO_RATE_HTTP_BURST: '6',
    })
  })
  afterAll(async () => {
    for (const r of raws) r.ws.terminate()
    await pair?.close()
  })

  const sync = (server: RunningServer, session: string, id: string) => `${server.url.replace('http', 'ws')}/sync/${session}?id=${id}`
  const raw = async (server: RunningServer, session: string, id: string): Promise<RawClient> => {
    const client = await rawClient(sync(server, session, id))
    raws.push(client)
    await client.greeted
    return client
  }

  it('refuses (4429) a connection past the cap counted over both instances, and admits one when a place frees up anywhere', async () => {
    const { a, b } = pair
    const onA = [await raw(a, 'full', 'a1'), await raw(a, 'full', 'a2')]
    const onB = await raw(b, 'full', 'b1')
    for (const c of [...onA, onB]) expect(await c.handled()).toBe(true)
    expect(await closeOf(sync(b, 'full', 'b2'))).toEqual({ code: 4429, reason: expect.stringMatching(/session full: at most 3/) })
    expect(await closeOf(sync(a, 'full', 'a3'))).toMatchObject({ code: 4429 })
    // Another session has places of its own.
    expect(await (await raw(b, 'other', 'b3')).handled()).toBe(true)
    onA[0]!.ws.close()
    // The place freed on instance a is one instance b may give.
    await until(async () => (await raw(b, 'full', 'b4')).handled(), { what: 'a place on b once a client of a left' })
    expect(await closeOf(sync(a, 'full', 'a4'))).toMatchObject({ code: 4429 })
  })

  it('answers 429 once an identity spent its burst across both instances, and not to another identity', async () => {
    const { a, b } = pair
    const get = (server: RunningServer, id: string) => call(server.url, 'GET', '/api/sessions', undefined, { 'x-mnemo-id': id })
    const first = await Promise.all([get(a, 'eager'), get(a, 'eager'), get(a, 'eager'), get(b, 'eager'), get(b, 'eager'), get(b, 'eager')])
    expect(first.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
    const over = await get(b, 'eager')
    expect(over.status).toBe(429)
    expect(over.body.error.code).toBe('rate_limited')
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await get(a, 'eager')).status).toBe(429)
    expect((await get(b, 'patient')).status).toBe(200)
  })
})

describe.skipIf(!withRedis)('shared limits when an instance dies or Redis is away', () => {
  const clients: Redis[] = []
  const limits: SharedLimits[] = []
  const open = async (prefix: string, instanceId: string, heartbeatMs = 100): Promise<{ redis: Redis; limits: SharedLimits }> => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
    redis.on('error', () => {})
    await redis.connect()
    clients.push(redis)
    const shared = createSharedLimits({ redis, prefix, instanceId, log: silentLog, heartbeatMs })
    limits.push(shared)
    return { redis, limits: shared }
  }
  afterAll(async () => {
    await Promise.all(limits.map((l) => l.close()))
    for (const c of clients) c.disconnect()
  })

  it("a killed instance's connection slots stop counting once its heartbeat lapses", async () => {
    const prefix = freshPrefix()
    const dying = await open(prefix, 'dying')
    const survivor = await open(prefix, 'survivor')
    for (let i = 0; i < 3; i++) expect(await dying.limits.admitConnection('s', 3)).toBe(true)
    expect(await survivor.limits.admitConnection('s', 3)).toBe(false)
    // Killed: it never gives its slots back, and stops renewing its heartbeat.
    dying.redis.disconnect()
    await until(() => survivor.limits.admitConnection('s', 3), { what: "the dead instance's slots to lapse" })
    expect(await survivor.limits.admitConnection('s', 3)).toBe(true)
  })

  it("rewrites its own counts at every heartbeat, so slots lost by a Redis restart count again", async () => {
    const prefix = freshPrefix()
    const one = await open(prefix, 'one')
    const other = await open(prefix, 'other')
    for (let i = 0; i < 2; i++) expect(await one.limits.admitConnection('s', 3)).toBe(true)
    await one.redis.del(`${prefix}conns:s`) // what a restarted Redis forgot
    await until(async () => (await one.redis.hget(`${prefix}conns:s`, 'one')) === '2', { what: 'the next heartbeat' })
    expect(await other.limits.admitConnection('s', 3)).toBe(true)
    expect(await other.limits.admitConnection('s', 3)).toBe(false)
    one.limits.releaseConnection('s')
    await until(() => other.limits.admitConnection('s', 3), { what: 'the released slot' })
  })

  it('falls back to the instance\'s own bucket when Redis does not answer', async () => {
    const away = await open(freshPrefix(), 'away')
    away.redis.disconnect()
    await expect(away.limits.takeRate('k', 1, 2)).rejects.toThrow()
    const app = new Hono()
    app.onError(createErrorHandler(silentLog as never))
    app.use(rateLimit({ perSec: 1, burst: 2, shared: away.limits, keyOf: () => 'k' }))
    app.get('/', (c) => c.text('ok'))
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await app.request('/')).status)
    expect(statuses).toEqual([200, 200, 429])
  })
})
