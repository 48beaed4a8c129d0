/**
 * A reconnect storm: 300 stock providers over 50 sessions are connected when the server
 * (a child process, MNEMO_DB_POOL=5) restarts. All of them rejoin at once and must sync and
 * converge without exhausting the database pool, and the server must stay healthy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getSelections } from '../src/session/roots.js'
import { select } from '../src/session/write.js'
import {
  connectClient, errorLines, healthOf, startChildServer, type ChildServer, type StockClient,
} from './fixtures/child.js'
import {
  clusterAvailable, createCluster, databaseAvailable, databaseEnv, freshDatabase, withAdmin, type FreshDatabase,
} from './fixtures/cluster.js'
import { until } from './fixtures/until.js'

const SESSIONS = 50
const PER_SESSION = 6
const POOL = 5

describe.skipIf(!databaseAvailable)('reconnect storm after a restart', () => {
  let db: FreshDatabase
  const servers: ChildServer[] = []
  const clients: StockClient[] = []

  beforeAll(async () => {
    // A cluster of its own when possible: then the server's connections can be counted.
    if (clusterAvailable) {
      const cluster = await createCluster()
      db = { databaseUrl: cluster.url, cluster, close: () => cluster.destroy() }
    } else {
      db = (await freshDatabase())!
    }
  })
  afterAll(async () => {
    for (const c of clients) c.destroy()
    for (const s of servers) await s.kill()
    await db?.close()
  })

  /** Every client holds every key its session's clients wrote with `suffix`. */
  const converged = (suffix: string) => clients.every((c, i) => {
    const session = Math.floor(i / PER_SESSION)
    for (let j = 0; j < PER_SESSION; j++) {
      if (!getSelections(c.doc).has(`c${session * PER_SESSION + j}-${suffix}`)) return false
    }
    return true
  })

  it(`${SESSIONS * PER_SESSION} clients over ${SESSIONS} sessions rejoin and converge, pool ${POOL}`, async () => {
    const env = { ...databaseEnv(db), MNEMO_DB_POOL: String(POOL) }
    const first = await startChildServer(env)
    servers.push(first)
    for (let i = 0; i < SESSIONS * PER_SESSION; i++) {
      clients.push(connectClient(first.url, `storm-${Math.floor(i / PER_SESSION)}`, `c${i}`))
    }
    await until(() => clients.every((c) => c.synced()), { what: 'all clients synced before the restart', timeout: 40_000 })
    clients.forEach((c) => select(c.doc, `${c.name}-before`, c.name))
    await until(() => converged('before'), { what: 'sessions converged before the restart', timeout: 20_000 })

    // A deploy: graceful stop (clients get 1012), a new process on the same port.
    await first.stop()
    const second = await startChildServer(env, { port: first.port })
    servers.push(second)
    const restartedAt = Date.now()
    await until(() => clients.every((c) => c.synced()), { what: 'all clients rejoined and synced', timeout: 40_000, explain: () => ({ unsynced: clients.filter((c) => !c.synced()).length }) })
    const rejoinMs = Date.now() - restartedAt
    clients.forEach((c) => select(c.doc, `${c.name}-after`, c.name))
    await until(() => converged('after') && converged('before'), { what: 'sessions converged after the restart', timeout: 30_000 })

    expect(await healthOf(second.url)).toBe(200)
    expect(second.alive()).toBe(true)
    // Nothing failed for want of a connection: no load, append or join errors were logged.
    expect(errorLines(second.logs).map((line) => line.msg)).toEqual([])
    // Sockets of attempts that failed during the restart may still be closing: wait for the gauge.
    const gauge = new RegExp(`^mnemo_ws_connections ${SESSIONS * PER_SESSION}$`, 'm')
    await until(async () => gauge.test(await (await fetch(`${second.url}/metrics`)).text()), { what: `mnemo_ws_connections to read ${SESSIONS * PER_SESSION}` })
    let connections: number | undefined
    if (db.cluster) {
      // The pool's connections and one for LISTEN; this test's own admin connection excluded.
      connections = await withAdmin(db.databaseUrl, async (sql) => Number((await sql`
        SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)[0]!.n))
      expect(connections).toBeLessThanOrEqual(POOL + 1)
    }
    console.log(`reconnect storm: ${clients.length} clients over ${SESSIONS} sessions rejoined and synced ` +
      `${rejoinMs} ms after the restart; database connections ${connections ?? 'not counted'} (pool ${POOL})`)
  })
})
