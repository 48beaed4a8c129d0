/**
 * Running the service as a role that may read and append to the log but never change it
 * (`mnemo migrate --app-role`): the server works end to end, and the role cannot update,
 * delete or truncate events, disable the append-only triggers, or turn them off for its
 * session. PostgreSQL only (the embedded database has no roles).
 */
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { startServer, type RunningServer } from '../src/main.js'
import { grantAppRole, loadMigrations, migrate } from '../src/store/migrate.js'
import { openDriver, openStore } from '../src/store/openStore.js'
import { runMnemo } from './fixtures/child.js'
import { TEST_DATABASE_URL } from './fixtures/db.js'
import { call } from './fixtures/server.js'

const mnemo = runMnemo

const asRole = (url: string, role: string): string => {
  const parsed = new URL(url)
  parsed.username = role
  parsed.password = ''
  return parsed.toString()
}

describe.skipIf(!TEST_DATABASE_URL)('the service as an append-only role', () => {
  const suffix = randomBytes(5).toString('hex')
  const schema = `t_roles_${suffix}`
  const role = `mnemo_app_${suffix}`
  const owner = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
  let appUrl: string
  let app: ReturnType<typeof postgres>

  beforeAll(async () => {
    await owner.unsafe(`CREATE SCHEMA ${schema}`)
    await owner.unsafe(`CREATE ROLE ${role} LOGIN`)
    const migrated = await mnemo(['migrate', '--app-role', role], { DATABASE_URL: TEST_DATABASE_URL!, MNEMO_DB_SCHEMA: schema })
    expect(migrated.stderr).toBe('')
    expect(migrated.stdout).toMatch(/applied 0001_events\.sql[\s\S]*granted role mnemo_app_/)
    expect(migrated.code).toBe(0)
    appUrl = asRole(TEST_DATABASE_URL!, role)
    app = postgres(appUrl, { max: 1, onnotice: () => {}, connection: { search_path: schema } })
  })

  afterAll(async () => {
    await app?.end()
    await owner.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await owner.unsafe(`DROP OWNED BY ${role}`).catch(() => {})
    await owner.unsafe(`DROP ROLE IF EXISTS ${role}`)
    await owner.end()
  })

  it('serves appends, memory, snapshots and reads', async () => {
    let server: RunningServer | undefined
    try {
      server = await startServer(loadConfig({
        PORT: '0', HOST: '127.0.0.1', DATABASE_URL: appUrl, MNEMO_DB_SCHEMA: schema, MNEMO_POLL_MS: '200', LOG_LEVEL: 'silent',
      }))
      const base = server.url
      const formed = await call(base, 'POST', '/api/sessions/s1/events', {
        type: 'memory.formed', data: { memoryId: 'm1', content: 'roles keep the log honest', importance: 0.5 },
      })
      expect(formed.status).toBe(201)
      const memories = await call(base, 'GET', '/api/sessions/s1/memories')
      expect(memories.body.memories.map((m: { id: string }) => m.id)).toEqual(['m1'])
      expect((await call(base, 'GET', '/api/sessions/s1/verify')).body).toMatchObject({ ok: true })
    } finally {
      await server?.close()
    }
    const store = await openStore({ databaseUrl: appUrl, schema })
    try {
      const stored = await store.append('s2', [{ type: 'test.note', data: { n: 1 }, actor: { id: 'a', name: 'A', kind: 'agent' } }])
      expect(stored.ok).toBe(true)
      await store.saveSnapshot({ session: 's2', version: 1, position: stored.ok ? stored.events[0].position : 0, state: new Uint8Array([0, 0]) })
      expect(await store.loadSnapshot('s2')).toBeDefined()
    } finally {
      await store.close()
    }
  })

  it('cannot change or remove what the log holds, nor switch its guards off', async () => {
    const refused = async (statement: string) => {
      const error = await app.unsafe(statement).then(() => undefined, (e: { code?: string }) => e)
      expect(error, statement).toBeDefined()
      expect(error!.code, statement).toBe('42501') // insufficient_privilege
    }
    expect((await app.unsafe('SELECT count(*)::int AS n FROM events'))[0].n).toBeGreaterThan(0)
    await refused('UPDATE events SET data = \'{}\'')
    await refused('DELETE FROM events')
    await refused('TRUNCATE events')
    await refused('ALTER TABLE events DISABLE TRIGGER ALL')
    await refused('DROP TABLE events')
    await refused('SET session_replication_role = replica')
    await refused('DELETE FROM schema_migrations')
    await refused('CREATE TABLE intruder (a int)')
  })

  it('a pending migration tells the role to have the owner run it', async () => {
    const driver = await openDriver({ databaseUrl: appUrl, schema })
    try {
      const withNew = [...(await loadMigrations()), { version: 9999, name: '9999_later.sql', sql: 'CREATE TABLE later (a int);' }]
      await expect(migrate(driver, withNew)).rejects.toThrow(/needs migrations \(9999_later\.sql\) that role "mnemo_app_[0-9a-f]+" may not apply.*mnemo migrate/)
      expect(await migrate(driver)).toEqual([]) // up to date: only read
    } finally {
      await driver.close()
    }
  })

  it('grants to nobody who could bypass the log', async () => {
    const driver = await openDriver({ databaseUrl: TEST_DATABASE_URL!, schema })
    try {
      await expect(grantAppRole(driver, 'postgres')).rejects.toThrow(/superuser/)
      await expect(grantAppRole(driver, `nobody_${suffix}`)).rejects.toThrow(/does not exist: create it first/)
      await expect(grantAppRole(driver, 'bad name; DROP')).rejects.toThrow(/not a role name/)
    } finally {
      await driver.close()
    }
    const cli = await mnemo(['migrate', '--app-role', 'postgres'], { DATABASE_URL: TEST_DATABASE_URL!, MNEMO_DB_SCHEMA: schema })
    expect(cli.code).not.toBe(0)
    expect(cli.stderr).toMatch(/superuser/)
  })
})
