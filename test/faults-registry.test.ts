/**
 * The instance registry: instances on one database heartbeat into it; GET /api/instances
 * (admins only) lists the live ones with their lag behind the log's head; one killed drops
 * out after three missed heartbeats, one shut down leaves at once; /metrics has a lag gauge
 * per instance. PGlite (one process) lists itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.js'
import { loadConfig } from '../src/config.js'
import { startServer, type RunningServer } from '../src/main.js'
import { connectClient, startChildServer, type ChildServer, type StockClient } from './fixtures/child.js'
import { databaseAvailable, databaseEnv, freshDatabase, type FreshDatabase } from './fixtures/cluster.js'
import { pgliteBackend } from './fixtures/db.js'
import { call, startTestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'
import { select } from '../src/session/write.js'

const SECRET = 'a-registry-test-secret-of-at-least-32-bytes'

describe.skipIf(!databaseAvailable)('the instance registry', () => {
  let db: FreshDatabase
  let a: RunningServer
  let b: RunningServer
  let child: ChildServer | undefined
  let admin: Record<string, string>
  const clients: StockClient[] = []
  let env: Record<string, string>

  beforeAll(async () => {
    db = (await freshDatabase())!
    env = { PORT: '0', HOST: '127.0.0.1', MNEMO_POLL_MS: '200', MNEMO_HEARTBEAT_MS: '200', MNEMO_AUTH_SECRET: SECRET, ...databaseEnv(db) }
    a = await startServer(loadConfig({ ...env, MNEMO_INSTANCE_ID: 'inst-a', MNEMO_PUBLIC_URL: 'https://a.example.test' }))
    b = await startServer(loadConfig({ ...env, MNEMO_INSTANCE_ID: 'inst-b' }))
    admin = { authorization: `Bearer ${await mintToken(SECRET, { sub: 'root', name: 'Root', kind: 'human', role: 'admin' })}` }
  })
  afterAll(async () => {
    for (const c of clients) c.destroy()
    await child?.kill()
    await a?.close()
    await b?.close()
    await db?.close()
  })

  const instances = async (server: RunningServer) => {
    const response = await call(server.url, 'GET', '/api/instances', undefined, admin)
    expect(response.status).toBe(200)
    return response.body.instances as Array<Record<string, any>>
  }

  it('lists the live instances with what they heartbeat, to admins only', async () => {
    const listed = await instances(b)
    expect(listed.map((i) => i.id).sort()).toEqual(['inst-a', 'inst-b'])
    const first = listed.find((i) => i.id === 'inst-a')!
    expect(first).toMatchObject({ url: 'https://a.example.test', version: expect.any(String), sessions: 0, connections: 0, lag: 0 })
    expect(Date.parse(first.startedAt)).toBeLessThanOrEqual(Date.parse(first.lastSeen))
    expect(listed.find((i) => i.id === 'inst-b')!.url).toBe(b.url)

    const editor = await mintToken(SECRET, { sub: 'ed', name: 'Ed', kind: 'human', role: 'editor' })
    const refused = await call(a.url, 'GET', '/api/instances', undefined, { authorization: `Bearer ${editor}` })
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBeTruthy()
    expect((await call(a.url, 'GET', '/api/instances')).status).toBe(401)
  })

  it('reports loaded sessions, connections and a lag that reaches 0 as the feeds read on', async () => {
    const token = await mintToken(SECRET, { sub: 'ann', name: 'Ann', kind: 'human', role: 'editor' })
    const ann = connectClient(a.url, 'reg', 'ann', { params: { token } })
    clients.push(ann)
    await until(() => ann.synced(), { what: 'ann synced' })
    for (let i = 0; i < 20; i++) select(ann.doc, `m-${i}`, 'ann')
    const head = async () => (await call(a.url, 'GET', '/api/events?limit=1000', undefined, admin)).body.events.at(-1).position as number
    await until(async () => {
      const listed = await instances(a)
      const mine = listed.find((i) => i.id === 'inst-a')
      return mine?.sessions === 1 && mine.connections === 1 && mine.position >= (await head()) && listed.every((i) => i.lag === 0)
    }, { what: 'inst-a has the session loaded and every feed is at the head' })
    const metrics = await (await fetch(`${a.url}/metrics`)).text()
    expect(metrics).toMatch(/mnemo_instance_lag\{instance="inst-a"\} 0/)
    expect(metrics).toMatch(/mnemo_instance_lag\{instance="inst-b"\} \d+/)
    expect(metrics).toMatch(/mnemo_instances_live \d/)
  })

  it('drops an instance that was killed after its heartbeats stop, and one shut down at once', async () => {
    child = await startChildServer({ ...databaseEnv(db), MNEMO_HEARTBEAT_MS: '200', MNEMO_AUTH_SECRET: SECRET, MNEMO_INSTANCE_ID: 'inst-child' })
    await until(async () => (await instances(a)).some((i) => i.id === 'inst-child'), { what: 'the child listed' })
    await child.kill('SIGKILL')
    await until(async () => !(await instances(a)).some((i) => i.id === 'inst-child'), { what: 'the killed child dropped out' })

    await b.close()
    // Its row is gone, not only stale: listed by nobody from the moment it closed.
    expect((await instances(a)).map((i) => i.id)).toEqual(['inst-a'])
  })
})

describe('the registry on PGlite', () => {
  it('lists the one instance', async () => {
    const server = await startTestServer(pgliteBackend)
    try {
      const { status, body } = await call(server.url, 'GET', '/api/instances')
      expect(status).toBe(200)
      expect(body.instances).toHaveLength(1)
      expect(body.instances[0]).toMatchObject({ id: server.instanceId, url: server.url, lag: 0, sessions: 0 })
    } finally {
      await server.stop()
    }
  })
})
