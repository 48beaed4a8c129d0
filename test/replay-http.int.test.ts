/** The timeline HTTP routes end to end: state at a position or time, replay (SSE), fork, export. */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { mintToken } from '../src/auth/tokens.js'
import { loadDocument } from '../src/replay/loadDocument.js'
import { MAX_REPLAY_WAIT_MS } from '../src/replay/pace.js'
import { stateAt } from '../src/replay/stateAt.js'
import { explore, select } from '../src/session/write.js'
import type { Actor, EventStore } from '../src/store/types.js'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { readSse } from './fixtures/sse.js'
import { alice, recordMixedSession, startRecording, type Observation } from './fixtures/recording.js'
import { until } from './fixtures/until.js'

const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout

/** Appends one edit made on the session's current document, as a room would. */
async function editSession(store: EventStore, session: string, actor: Actor, edit: (doc: Y.Doc) => void): Promise<void> {
  const { doc } = await loadDocument(store, session)
  const fresh = new Y.Doc() // a new client: its own client id, like another participant
  Y.applyUpdate(fresh, Y.encodeStateAsUpdate(doc))
  const before = Y.encodeStateVector(fresh)
  edit(fresh)
  const update = Y.encodeStateAsUpdate(fresh, before)
  const result = await store.append(session, [{ type: 'doc.update', data: { bytes: update.byteLength, changes: [] }, payload: update, actor }])
  expect(result.ok).toBe(true)
}

describe.each(backends)('timeline API on $name', (backend) => {
  let server: TestServer
  let url: string
  let observations: Observation[]
  beforeAll(async () => {
    server = await startTestServer(backend)
    url = server.url
    observations = (await recordMixedSession(server.store, 's1', 60)).observations
  })
  afterAll(async () => server.stop())

  it('answers the state at a position and at a time', async () => {
    const o = observations[Math.floor(observations.length / 2)]
    const byPosition = await call(url, 'GET', `/api/sessions/s1/state?at=${o.position}`)
    expect(byPosition.status).toBe(200)
    expect(byPosition.body).toEqual({ position: o.position, version: o.version, state: o.state })
    const byTime = await call(url, 'GET', `/api/sessions/s1/state?time=${encodeURIComponent(observations.at(-1)!.recordedAt)}`)
    expect(byTime.body).toMatchObject({ position: observations.at(-1)!.position, state: observations.at(-1)!.state })
    const plus = await call(url, 'GET', `/api/sessions/s1/state?time=2000-01-01T00:00:00+01:00`)
    expect(plus.body).toMatchObject({ position: 0, version: 0 })
    const now = await call(url, 'GET', '/api/sessions/s1/state')
    expect(now.body.version).toBe(observations.at(-1)!.version)
  })

  it('replays exactly the events between two positions, in order, then an end message', async () => {
    const all = (await call(url, 'GET', '/api/sessions/s1/events?limit=1000')).body.events
    const messages = await readSse(`${url}/api/sessions/s1/replay?speed=0`, { until: (m) => m.event === 'end' })
    expect(messages.at(-1)).toEqual({ event: 'end', data: JSON.stringify({ count: all.length }) })
    const replayed = messages.slice(0, -1)
    expect(replayed.map((m) => Number(m.id))).toEqual(all.map((e: any) => e.position))
    expect(replayed.map((m) => JSON.parse(m.data))).toEqual(all)
    // from and to are both included.
    const [from, to] = [all[3].position, all[9].position]
    const part = await readSse(`${url}/api/sessions/s1/replay?from=${from}&to=${to}&speed=0`, { until: (m) => m.event === 'end' })
    expect(part.slice(0, -1).map((m) => Number(m.id))).toEqual(all.slice(3, 10).map((e: any) => e.position))
    expect(JSON.parse(part.at(-1)!.data)).toEqual({ count: 7 })
  })

  it('keeps the original rhythm divided by speed (loosely)', async () => {
    const rec = startRecording(server.store, 'paced')
    await rec.other({ type: 'session.created', data: {}, actor: alice })
    for (let i = 0; i < 3; i++) {
      await sleep(150)
      await rec.edit(alice, (d) => select(d, `m${i}`, alice.id, i))
    }
    const span = Date.parse(rec.observations.at(-1)!.recordedAt) - Date.parse(rec.observations[0].recordedAt)
    const started = performance.now()
    const messages = await readSse(`${url}/api/sessions/paced/replay?speed=2`, { until: (m) => m.event === 'end' })
    const elapsed = performance.now() - started
    expect(messages.map((m) => m.event ?? 'message')).toEqual(['message', 'message', 'message', 'message', 'end'])
    expect(elapsed).toBeGreaterThanOrEqual(span / 2 * 0.8)
  })

  it('stops replaying when the client goes away', async () => {
    const rec = startRecording(server.store, 'slow')
    await rec.other({ type: 'session.created', data: {}, actor: alice })
    await sleep(20)
    await rec.other({ type: 'x.later', data: {}, actor: alice })
    // Watch the replay's 10 s pause: it must be cancelled when the client leaves, not run out.
    const pauses: unknown[] = []
    const cleared: unknown[] = []
    const setSpy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const handle = realSetTimeout(fn, ms)
      if (ms === MAX_REPLAY_WAIT_MS) pauses.push(handle)
      return handle
    }) as typeof setTimeout)
    const clearSpy = vi.spyOn(globalThis, 'clearTimeout').mockImplementation((handle) => {
      cleared.push(handle)
      realClearTimeout(handle)
    })
    try {
      const first = await readSse(`${url}/api/sessions/slow/replay?speed=0.0001`, { count: 1 })
      expect(first).toHaveLength(1)
      await until(() => pauses.length === 1 && cleared.includes(pauses[0]), { what: 'the replay\'s pause to be cancelled', timeout: 5000 })
    } finally {
      setSpy.mockRestore()
      clearSpy.mockRestore()
    }
    expect(pauses).toHaveLength(1)
    expect(cleared).toContain(pauses[0])
  })

  it('forks at a position; afterwards edits on either side stay on that side', async () => {
    const o = observations[Math.floor(observations.length / 2)]
    const forked = await call(url, 'POST', '/api/sessions/s1/fork', { id: 'f1', at: o.position, title: 'what if' })
    expect(forked.status).toBe(201)
    expect(forked.body).toEqual({ id: 'f1', forkedFrom: { session: 's1', position: o.position }, version: 2 })
    const events = (await call(url, 'GET', '/api/sessions/f1/events')).body.events
    expect(events.map((e: any) => e.type)).toEqual(['session.created', 'doc.update'])
    expect(events[0].data).toEqual({ title: 'what if', forkedFrom: { session: 's1', position: o.position } })
    expect((await call(url, 'GET', '/api/sessions/f1/state')).body.state).toEqual(o.state)

    await editSession(server.store, 'f1', alice, (d) => explore(d, { memoryId: 'only-in-fork', by: 'alice', at: 1 }))
    await editSession(server.store, 's1', alice, (d) => explore(d, { memoryId: 'only-in-parent', by: 'alice', at: 2 }))
    const fork = (await stateAt(server.store, 'f1')).state
    const parent = (await stateAt(server.store, 's1')).state
    expect(fork.explorationPath.map((s) => s.memoryId)).toEqual([...o.state.explorationPath.map((s) => s.memoryId), 'only-in-fork'])
    expect(parent.explorationPath.map((s) => s.memoryId)).toEqual([...observations.at(-1)!.state.explorationPath.map((s) => s.memoryId), 'only-in-parent'])
    expect((await call(url, 'GET', '/api/sessions/f1/verify')).body).toMatchObject({ ok: true })
  })

  it('refuses a fork into an existing id (409), of an unknown session (404), before the start or with a bad body (400)', async () => {
    expect((await call(url, 'POST', '/api/sessions/s1/fork', { id: 'f1' })).status).toBe(409)
    expect((await call(url, 'POST', '/api/sessions/s1/fork', { id: 's1' })).status).toBe(409)
    expect((await call(url, 'POST', '/api/sessions/nope/fork', { id: 'f2' })).status).toBe(404)
    expect((await call(url, 'POST', '/api/sessions/s1/fork', { id: 'f3', at: 0 })).status).toBe(400)
    const bad = await call(url, 'POST', '/api/sessions/s1/fork', { id: 'bad id!' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/^id:/)
    const latest = await call(url, 'POST', '/api/sessions/s1/fork', { id: 'f4' })
    expect(latest.body.forkedFrom.position).toBe((await server.store.head('s1'))!.position)
  })

  it('exports the session as JSON Lines, one envelope per line in version order', async () => {
    const response = await fetch(`${url}/api/sessions/s1/export`)
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/)
    const text = await response.text()
    expect(text.endsWith('\n')).toBe(true)
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l))
    // The last line is the head record: where the chain ended when it was exported.
    const head = lines.pop()
    const all = (await call(url, 'GET', '/api/sessions/s1/events?limit=1000')).body.events
    expect(head).toEqual({ head: { session: 's1', version: all.length, hash: all.at(-1).hash } })
    expect(lines).toEqual(all)
    expect(lines.map((e) => e.version)).toEqual(all.map((_: unknown, i: number) => i + 1))
    expect(lines.find((e) => e.type === 'doc.update').data.update).toMatch(/^[A-Za-z0-9+/]+=*$/)
  })
})

describe('timeline API with tokens', () => {
  const secret = 'x'.repeat(40)
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: secret })
    await server.store.append('p1', [{ type: 'session.created', data: {}, actor: alice }])
  })
  afterAll(async () => server.stop())

  const token = (role: 'viewer' | 'editor' | 'admin', sessions?: string[]) =>
    mintToken(secret, { sub: 'u', name: 'U', kind: 'human', role, sessions })

  it('lets a viewer read state, replay and export, but only an admin fork, into a session its token covers', async () => {
    const viewer = { authorization: `Bearer ${await token('viewer', ['p1'])}` }
    expect((await call(server.url, 'GET', '/api/sessions/p1/state', undefined, viewer)).status).toBe(200)
    expect((await fetch(`${server.url}/api/sessions/p1/export`, { headers: viewer })).status).toBe(200)
    expect((await call(server.url, 'POST', '/api/sessions/p1/fork', { id: 'p2' }, viewer)).status).toBe(403)
    const limitedAdmin = { authorization: `Bearer ${await token('admin', ['p1'])}` }
    expect((await call(server.url, 'POST', '/api/sessions/p1/fork', { id: 'p2' }, limitedAdmin)).status).toBe(403)
    const admin = { authorization: `Bearer ${await token('admin')}` }
    const forked = await call(server.url, 'POST', '/api/sessions/p1/fork', { id: 'p2' }, admin)
    expect(forked.status).toBe(201)
    expect((await call(server.url, 'GET', '/api/sessions/p2/events', undefined, admin)).body.events[0].actor).toEqual({ id: 'u', name: 'U', kind: 'human' })
  })
})
