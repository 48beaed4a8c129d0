/**
 * The agent SDK while the server is down: the server is stopped, the agent keeps working
 * (Yjs edits wait in the provider, HTTP events in the ordered queue with their ids), a new
 * server starts on the same port and database, and every edit lands exactly once, in order.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { joinSession } from '../src/agent/index.js'
import { loadConfig } from '../src/config.js'
import { startServer, type RunningServer } from '../src/main.js'
import { readState } from '../src/session/readState.js'
import { anyBackend as backend, TEST_DATABASE_URL } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'


// A database that outlives the server: PostgreSQL when configured, else PGlite in a directory.

describe(`the agent SDK across a server restart (${backend.name})`, () => {
  let first: TestServer
  let second: RunningServer | undefined
  let dataDir: string | undefined
  beforeAll(async () => {
    dataDir = TEST_DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'mnemo-agent-offline-'))
    first = await startTestServer(backend, dataDir ? { MNEMO_DATA_DIR: dataDir } : {})
  })
  afterAll(async () => {
    await second?.close()
    await first.stop() // already closed: this drops the database
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('queues edits and events while the server is down; they land once after it is back', async () => {
    let refused = 0 // HTTP attempts that found no server
    const counting: typeof fetch = async (...args) => {
      try {
        return await fetch(...args)
      } catch (error) {
        refused += 1
        throw error
      }
    }
    const s = await joinSession({ url: first.url, session: 'offline', id: 'nav', retry: { maxDelayMs: 200 }, fetch: counting })
    const doc = new Y.Doc()
    const human = new WebsocketProvider(`${first.url.replace('http', 'ws')}/sync`, 'offline', doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { id: 'ada', name: 'Ada' },
    })
    try {
      await s.select('m-0')
      await s.formMemory({ memoryId: 'm-0', content: 'before the outage' })
      await s.flush()

      // The rooms first: RunningServer.close() waits for the sync endpoint's clients to go
      // before the rooms close them (ws' close callback), which takes until they time out.
      await first.rooms.close()
      await first.close()
      // The provider notices the closed socket asynchronously.
      await until(() => s.status() === 'connecting', { what: 'the agent to see the server gone' })
      await s.select('m-1')
      const note = await s.annotate('m-1', 'written while the server was down')
      const formed = s.formMemory({ memoryId: 'm-1', content: 'formed offline' }, { rationale: 'still learning' })
      const connected = s.connect('m-0', 'm-1', 0.7)
      const turn = s.turn('agent', 'said offline')
      await until(() => refused >= 3, { what: 'a few failed HTTP attempts' })
      expect(s.state().annotations[note]).toBeDefined()

      second = await startServer(loadConfig({ ...first.env, PORT: String(first.port) }))
      const [memory, connection, said] = await Promise.all([formed, connected, turn])
      expect(memory.event.position < connection.position && connection.position < said.position).toBe(true)
      await s.flush()
      await until(() => readState(doc).annotations[note]?.text === 'written while the server was down')
      expect(readState(doc).selections['m-1']?.by).toBe('nav')

      const { events } = (await call(second.url, 'GET', '/api/sessions/offline/events?limit=1000')).body as { events: any[] }
      const count = (match: (e: any) => boolean) => events.filter(match).length
      expect(count((e) => e.type === 'memory.formed' && e.data.memoryId === 'm-1')).toBe(1)
      expect(count((e) => e.type === 'memory.connected')).toBe(1)
      expect(count((e) => e.type === 'conversation.turn')).toBe(1)
      const adds = (key: string) => count((e) => e.type === 'doc.update' && e.data.changes.some((c: any) => c.key === key && c.op === 'add'))
      expect(adds(note)).toBe(1)
      expect(adds('m-1')).toBe(1)
      expect(events.find((e) => e.type === 'memory.formed' && e.data.memoryId === 'm-1').meta.rationale).toBe('still learning')
      await s.close()
    } finally {
      human.destroy()
    }
  })
})
