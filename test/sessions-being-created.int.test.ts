/**
 * The first client of a new session is synced while its `session.created` is being stored
 * (createRoomManager.ts `join`); HTTP callers read through `awaitingCreation`, so a client who
 * was synced finds the session over HTTP at once (sessionsBeingCreated.ts). Here the write is
 * held for real: the test holds the log's lock (`log_head`) in a transaction of its own.
 */
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { postgresBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

describe.skipIf(!TEST_DATABASE_URL)('a session being created', () => {
  let server: TestServer
  let admin: postgres.Sql
  const providers: WebsocketProvider[] = []
  beforeAll(async () => {
    server = await startTestServer(postgresBackend)
    admin = postgres(server.env.DATABASE_URL!, { max: 2, onnotice: () => {} })
  })
  afterAll(async () => {
    for (const p of providers) p.destroy()
    await admin?.end()
    await server?.stop()
  })

  it('is synced to its first client while stored, and HTTP reads wait for it instead of answering 404', async () => {
    const schema = server.env.MNEMO_DB_SCHEMA!
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const lockTaken = new Promise<void>((resolve) => (locked = resolve))
    const holding = admin.begin(async (tx) => {
      await tx.unsafe(`SELECT position FROM "${schema}".log_head FOR UPDATE`)
      locked()
      await released
    })
    try {
      await lockTaken
      const doc = new Y.Doc()
      const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, 'fresh', doc, {
        WebSocketPolyfill: WebSocket as never, disableBc: true, params: { id: 'ada', name: 'Ada', kind: 'human' },
      })
      providers.push(provider)
      await until(() => provider.synced, { what: 'the first client to sync while the session is being stored' })
      // Its session.created is waiting for the lock: the session is not in the log yet.
      const [{ count }] = await admin.unsafe(`SELECT count(*)::int AS count FROM "${schema}".events`)
      expect(count).toBe(0)
      const answers: number[] = []
      const reads = [
        call(server.url, 'GET', '/api/sessions/fresh').then((r) => { answers.push(r.status); return r }),
        call(server.url, 'POST', '/api/sessions/fresh/cascades', { memoryId: 'nope' }).then((r) => { answers.push(r.status); return r }),
      ]
      // Answered only once the write is: no 404 for a session a client was synced to. A read
      // of another session, asked after them, is answered while they still wait.
      expect((await call(server.url, 'GET', '/api/sessions/nobody')).status).toBe(404)
      expect(answers).toEqual([])
      release()
      await holding
      const [session, cascade] = await Promise.all(reads)
      expect(session.status).toBe(200)
      expect(session.body).toMatchObject({ id: 'fresh' })
      expect(cascade.status).toBe(404)
      expect(cascade.body.error.code).toBe('memory_not_found') // the session is found; its memory is not
    } finally {
      release()
      await holding.catch(() => {})
    }
  })

  it('answers 404 at once for a session nobody is creating', async () => {
    const { status, body } = await call(server.url, 'GET', '/api/sessions/nobody')
    expect(status).toBe(404)
    expect(body.error.code).toBe('session_not_found')
  })
})
