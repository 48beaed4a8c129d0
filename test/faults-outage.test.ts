/**
 * Database faults on a throwaway PostgreSQL cluster, with the server as a child process and
 * stock clients editing throughout: the cluster stopped mid-load (immediate: a crash) and
 * started again, and every server connection killed with pg_terminate_backend. The server
 * must not crash, must not broadcast what it could not store, and must recover by itself;
 * no update another client saw may be missing from the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { loadDocument } from '../src/replay/loadDocument.js'
import { getSelections } from '../src/session/roots.js'
import { select } from '../src/session/write.js'
import { openStore } from '../src/store/openStore.js'
import type { EventStore } from '../src/store/types.js'
import {
  connectClient, healthOf, startChildServer, type ChildServer, type StockClient,
} from './fixtures/child.js'
import { clusterAvailable, createCluster, freePort, withAdmin, type Cluster } from './fixtures/cluster.js'
import { call } from './fixtures/server.js'
import { until } from './fixtures/until.js'


/** Clients that each write a new selection key every `everyMs`, remembering what they wrote. */
function startWriters(clients: StockClient[], everyMs = 25) {
  const written = new Map(clients.map((c) => [c.name, [] as string[]]))
  const timer = setInterval(() => {
    for (const client of clients) {
      const keys = written.get(client.name)!
      const key = `${client.name}-${keys.length}`
      select(client.doc, key, client.name)
      keys.push(key)
    }
  }, everyMs)
  return {
    written,
    all: () => [...written.values()].flat(),
    stop: () => clearInterval(timer),
  }
}

/** The selection keys the log holds for `session`, read straight from the database. */
async function keysInLog(store: EventStore, session: string): Promise<Set<string>> {
  const { doc } = await loadDocument(store, session)
  const keys = new Set(getSelections(doc).keys())
  doc.destroy()
  return keys
}

const acknowledged = (clients: StockClient[]) => new Set(clients.flatMap((c) => [...c.seen]))

/**
 * Keys some client saw before the log recorded them: the server broadcast them unstored.
 * `recordedAt` is stamped before the commit and a client sees an update only after it, so for
 * every key a client saw, the first stored update that added it must be no later.
 */
async function seenBeforeStored(store: EventStore, session: string, clients: StockClient[]): Promise<string[]> {
  const stored = new Map<string, number>()
  for (const event of await store.read(session, { types: ['doc.update'], limit: 10_000 })) {
    for (const change of (event.data.changes ?? []) as { path: string; key: string }[]) {
      if (change.path === 'selections' && !stored.has(change.key)) stored.set(change.key, Date.parse(event.recordedAt))
    }
  }
  return clients.flatMap((c) => [...c.seenAt].filter(([key, at]) => !(stored.get(key)! <= at))
    .map(([key, at]) => `${key} seen by ${c.name} at ${new Date(at).toISOString()}, stored ${stored.has(key) ? new Date(stored.get(key)!).toISOString() : 'never'}`))
}

async function withStore<T>(databaseUrl: string, fn: (store: EventStore) => Promise<T>): Promise<T> {
  const store = await openStore({ databaseUrl })
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

describe.skipIf(!clusterAvailable)('database faults on a throwaway cluster', () => {
  let cluster: Cluster
  let reader: EventStore
  const servers: ChildServer[] = []
  const clients: StockClient[] = []

  beforeAll(async () => {
    cluster = await createCluster()
  })
  afterAll(async () => {
    for (const c of clients) c.destroy()
    for (const s of servers) await s.stop()
    await reader?.close()
    await cluster?.destroy()
  })

  it('a cluster stopped mid-load and started again: 503 meanwhile, nothing unstored broadcast, nothing acknowledged lost', async () => {
    const server = await startChildServer({ DATABASE_URL: cluster.url, MNEMO_DB_POOL: '5' })
    servers.push(server)
    const session = 'outage'
    const team = ['ada', 'bob', 'cy'].map((name) => connectClient(server.url, session, name, { maxBackoffTime: 1000 }))
    clients.push(...team)
    await until(() => team.every((c) => c.synced()), { what: 'clients synced' })
    const writers = startWriters(team)
    await until(() => team.every((c) => c.seen.size >= 40), { what: 'edits flowing before the outage' })

    await cluster.stop('immediate')
    const writtenBefore = new Map([...writers.written].map(([name, keys]) => [name, keys.length]))
    const closesBefore = team.map((c) => c.closes())
    await until(async () => (await healthOf(server.url)) === 503, { what: '/health says 503' })
    // Every client tried to store something and was turned away (1011).
    await until(() => team.every((c, i) => c.closes() > closesBefore[i]!), { what: 'clients turned away' })
    // A client of a session not loaded yet, and an HTTP write: refused, not lost in limbo.
    const late = connectClient(server.url, 'outage-late', 'late', { maxBackoffTime: 1000 })
    clients.push(late)
    const refused = await call(server.url, 'POST', `/api/sessions/${session}/events`, { type: 'note.added', data: { text: 'during' } })
    expect(refused.status).toBeGreaterThanOrEqual(500)
    await until(() => late.closes() > 0, { what: 'the late client to be turned away' })
    expect(late.synced()).toBe(false)
    const outageKeys = new Set(team.flatMap((c) => writers.written.get(c.name)!.slice(writtenBefore.get(c.name)!)))
    const broadcastUnstored = team.flatMap((c) => [...c.seen].filter((key) => outageKeys.has(key)))
    expect(broadcastUnstored).toEqual([])
    expect(server.alive()).toBe(true)
    // Acknowledged: seen by another client. Whatever was, the crashed database must hold —
    // looked at on another port, before the clients' resync could store it again.
    const ackedAtCrash = acknowledged(team)
    const inspection = await freePort()
    await cluster.start(inspection)
    const survived = await withStore(cluster.urlAt(inspection), (store) => keysInLog(store, session))
    await cluster.stop('fast')
    const lostAcrossOutage = [...ackedAtCrash].filter((key) => !survived.has(key))

    await cluster.start()
    await until(async () => (await healthOf(server.url)) === 200, { what: '/health back to 200 by itself', timeout: 30_000 })
    // The writers keep going until every client has seen edits made after the recovery.
    const seenAtRecovery = team.map((c) => c.seen.size)
    await until(() => team.every((c, i) => c.seen.size > seenAtRecovery[i]!), { what: 'edits flowing again after the recovery', timeout: 30_000 })
    writers.stop()
    const everything = writers.all()
    // Appends that never settle show here (mnemo_pending_appends): a stuck pipeline, not a slow one.
    let pendingAppends = ''
    await until(async () => {
      pendingAppends = (await fetch(`${server.url}/metrics`).then((r) => r.text())).split('\n').find((l) => l.startsWith('mnemo_pending_appends')) ?? ''
      return team.every((c) => everything.every((key) => getSelections(c.doc).has(key)))
    }, { what: 'clients converged', timeout: 30_000, explain: () => ({ pendingAppends, clients: team.map((c) => ({ name: c.name, synced: c.synced(), closes: c.closes(), missing: everything.filter((k) => !getSelections(c.doc).has(k)).length })),
        logs: server.logs.slice(-8).map((l) => [l.msg, (l.err as any)?.message]) }) })

    await until(() => late.synced(), { what: 'a client that came during the outage synced' })
    select(late.doc, 'late-key', 'late')
    expect((await call(server.url, 'POST', `/api/sessions/${session}/events`, { type: 'note.added', data: { text: 'after' } })).status).toBe(201)

    reader = await openStore({ databaseUrl: cluster.url })
    await until(async () => (await keysInLog(reader, 'outage-late')).has('late-key'), { what: 'the late client\'s update stored' })
    const inLog = await keysInLog(reader, session)
    console.log(`database outage: ${everything.length} updates written, ${outageKeys.size} of them during the outage ` +
      `(0 broadcast), ${ackedAtCrash.size} acknowledged when it crashed; an HTTP append meanwhile got ${refused.status}; ` +
      `updates lost across the outage: ${lostAcrossOutage.length}`)
    expect(lostAcrossOutage).toEqual([])
    expect(everything.filter((key) => !inLog.has(key))).toEqual([])
    expect(await seenBeforeStored(reader, session, team)).toEqual([])
    expect(await reader.verify(session)).toMatchObject({ ok: true })
    expect(server.alive()).toBe(true)
  })

  it('pg_terminate_backend of every server connection, repeatedly, while appends and LISTEN are active', async () => {
    // A long poll: updates from other writers can only arrive promptly through LISTEN.
    const server = await startChildServer({ DATABASE_URL: cluster.url, MNEMO_DB_POOL: '5', MNEMO_POLL_MS: '60000' })
    servers.push(server)
    const session = 'terminated'
    const team = ['dee', 'eli'].map((name) => connectClient(server.url, session, name, { maxBackoffTime: 1000 }))
    clients.push(...team)
    await until(() => team.every((c) => c.synced()), { what: 'clients synced' })
    const writers = startWriters(team, 10)
    await until(() => team.every((c) => c.seen.size >= 20), { what: 'edits flowing' })

    const serverBackends = () => withAdmin(cluster.url, async (sql) => (await sql`
      SELECT 1 FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).length)
    let terminated = 0
    // pg_terminate_backend returns before the backend is gone: a dying backend's LISTEN must not count below.
    const killed: number[] = []
    for (let round = 0; round < 8; round++) {
      const pids = await withAdmin(cluster.url, async (sql) => (await sql<{ pid: number }[]>`
        SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).map((r) => r.pid))
      terminated += pids.length
      killed.push(...pids)
      // The next round starts once the server has reconnected (its pool and its LISTEN).
      await until(() => serverBackends().then((n) => n >= 2), { what: `the server to reconnect after round ${round}`, timeout: 30_000 })
    }
    expect(terminated).toBeGreaterThan(8)
    expect(server.alive()).toBe(true)
    await until(async () => (await healthOf(server.url)) === 200, { what: '/health recovered' })
    writers.stop()
    const everything = writers.all()
    // Appends that never settle show here (mnemo_pending_appends): a stuck pipeline, not a slow one.
    let pendingAppends = ''
    await until(async () => {
      pendingAppends = (await fetch(`${server.url}/metrics`).then((r) => r.text())).split('\n').find((l) => l.startsWith('mnemo_pending_appends')) ?? ''
      return team.every((c) => everything.every((key) => getSelections(c.doc).has(key)))
    }, { what: 'clients converged', timeout: 30_000, explain: () => ({ pendingAppends, clients: team.map((c) => ({ name: c.name, synced: c.synced(), closes: c.closes(), missing: everything.filter((k) => !getSelections(c.doc).has(k)).length })),
        logs: server.logs.slice(-8).map((l) => [l.msg, (l.err as any)?.message]) }) })

    // LISTEN is back: an update another instance stores reaches the clients well within the poll.
    await until(() => withAdmin(cluster.url, async (sql) => (await sql`
      SELECT 1 FROM pg_stat_activity WHERE query ILIKE 'listen %' AND state = 'idle' AND pid <> pg_backend_pid()
        AND NOT (pid = ANY(${killed}::int[]))`).length > 0), { what: 'LISTEN re-established' })
    reader ??= await openStore({ databaseUrl: cluster.url })
    const elsewhere = new Y.Doc()
    Y.applyUpdate(elsewhere, Y.encodeStateAsUpdate(team[0]!.doc))
    const before = Y.encodeStateVector(elsewhere)
    select(elsewhere, 'from-another-instance', 'zed')
    const update = Y.encodeStateAsUpdate(elsewhere, before)
    const appended = await reader.append(session, [{
      type: 'doc.update', data: { bytes: update.length, changes: [{ path: 'selections', op: 'add', key: 'from-another-instance' }] },
      payload: update,
      actor: { id: 'zed', name: 'Zed', kind: 'human' },
    }])
    expect(appended.ok).toBe(true)
    // Well within the 60 s poll; a LISTEN renewed late (postgres.js' reconnect backs off) still counts.
    await until(() => team.every((c) => getSelections(c.doc).has('from-another-instance')), {
      what: 'an update stored elsewhere arrived through LISTEN', timeout: 30_000,
      explain: async () => ({
        listening: await withAdmin(cluster.url, async (sql) => (await sql`
          SELECT pid, state, query FROM pg_stat_activity WHERE query ILIKE 'listen %' AND pid <> pg_backend_pid()`).map((r) => `${r.pid} ${r.state} ${r.query}`)),
        logs: server.logs.slice(-12).map((l) => [l.msg, (l.err as any)?.message]),
      }),
    })

    const inLog = await keysInLog(reader, session)
    const early = await seenBeforeStored(reader, session, team)
    console.log(`pg_terminate_backend: ${terminated} connections killed over 8 rounds, ${everything.length} updates written; ` +
      `seen by another client before they were stored: ${early.length}`)
    expect(early).toEqual([])
    expect(everything.filter((key) => !inLog.has(key))).toEqual([])
    expect(await reader.verify(session)).toMatchObject({ ok: true })
    expect(server.alive()).toBe(true)
    expect(server.logs.filter((line) => /uncaught|unhandled/i.test(line.msg))).toEqual([])
  })
})
