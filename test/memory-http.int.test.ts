/**
 * The memory API end to end on every backend: memory events through the event route
 * (validation, idempotency, `previous`, automatic cascades), the graph, search, requested
 * cascades and the context summary.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.js'
import { applyMemoryEvents, emptyGraph, graphToJson } from '../src/memory/graph.js'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'

const alice = { 'x-mnemo-id': 'alice', 'x-mnemo-name': 'Alice', 'x-mnemo-kind': 'human' }
const formed = (memoryId: string, content: string, extra: Record<string, unknown> = {}) =>
  ({ type: 'memory.formed', data: { memoryId, content, ...extra } })
const connected = (from: string, to: string, strength: number) => ({ type: 'memory.connected', data: { from, to, strength } })
const changed = (from: string, to: string, strength: number) => ({ type: 'memory.strength_changed', data: { from, to, strength } })

describe.each(backends)('memory API on $name', (backend) => {
  let server: TestServer
  let url: string
  beforeAll(async () => {
    server = await startTestServer(backend)
    url = server.url
  })
  afterAll(async () => server.stop())

  const post = (session: string, body: unknown, headers: Record<string, string> = alice) =>
    call(url, 'POST', `/api/sessions/${session}/events`, body, headers)
  const eventsOf = async (session: string, types?: string) =>
    (await call(url, 'GET', `/api/sessions/${session}/events?limit=1000${types ? `&types=${types}` : ''}`)).body.events as any[]
  const cascadesOf = (session: string) => eventsOf(session, 'memory.cascade')

  it('folds memory events into the graph, exactly as a fold of the log', async () => {
    expect((await post('g1', { events: [
      formed('m1', 'The first memory', { importance: 0.2, kind: 'fact', tags: ['alpha'] }),
      formed('m2', 'The second memory', { importance: 0.1, connections: [{ to: 'm1', strength: 0.4 }] }),
      connected('m3', 'm2', 0.6),
    ] })).status).toBe(201)
    await post('g1', formed('m1', 'The first memory, refreshed', { importance: 0.3 }), { 'x-mnemo-id': 'bob' })
    const graph = (await call(url, 'GET', '/api/sessions/g1/memories')).body
    expect(graph.memories.map((m: any) => [m.id, m.content, m.importance, m.kind])).toEqual([
      ['m1', 'The first memory, refreshed', 0.3, undefined],
      ['m2', 'The second memory', 0.1, undefined],
    ])
    // A later formation keeps who formed the memory first, and when.
    expect(graph.memories[0].formedBy).toEqual({ id: 'alice', name: 'Alice', kind: 'human' })
    expect(graph.connections).toEqual([{ from: 'm1', to: 'm2', strength: 0.4 }, { from: 'm2', to: 'm3', strength: 0.6 }])
    const log = await eventsOf('g1')
    expect(graph).toEqual({ session: 'g1', ...graphToJson(applyMemoryEvents(emptyGraph(), log)) })
  })

  it('re-appends idempotently: the same id again changes nothing and cascades nothing', async () => {
    const id = randomUUID()
    const first = await post('i1', { id, ...formed('m1', 'strong', { importance: 0.9 }) })
    expect(first.status).toBe(201)
    const again = await post('i1', { id, ...formed('m1', 'strong, but sent twice', { importance: 0.9 }) })
    expect(again.status).toBe(200)
    expect(again.body).toEqual(first.body)
    expect((await eventsOf('i1')).map((e) => e.type)).toEqual(['session.created', 'memory.formed', 'memory.cascade'])
    expect((await call(url, 'GET', '/api/sessions/i1/memories')).body.memories[0].content).toBe('strong')
  })

  it('adds `previous` to strength changes: the stored strength, an earlier one in the batch, or null', async () => {
    await post('p1', { events: [formed('a', 'a', { importance: 0.1 }), connected('a', 'b', 0.3)] })
    await post('p1', changed('b', 'a', 0.7))
    await post('p1', { events: [connected('c', 'd', 0.2), changed('c', 'd', 0.9), changed('d', 'c', 0.1)] })
    await post('p1', changed('x', 'y', 0.5))
    const changes = (await eventsOf('p1', 'memory.strength_changed')).map((e) => e.data)
    expect(changes).toEqual([
      { from: 'b', to: 'a', strength: 0.7, previous: 0.3 },
      { from: 'c', to: 'd', strength: 0.9, previous: 0.2 },
      { from: 'd', to: 'c', strength: 0.1, previous: 0.9 },
      { from: 'x', to: 'y', strength: 0.5, previous: null },
    ])
    const graph = (await call(url, 'GET', '/api/sessions/p1/memories')).body
    expect(graph.connections).toContainEqual({ from: 'a', to: 'b', strength: 0.7 })
  })

  it('cascades automatically from a formation at or above the threshold, and not below it', async () => {
    await post('t1', { events: [formed('weak', 'w', { importance: 0.2 }), formed('low', 'l', { importance: 0.49 })] })
    expect(await cascadesOf('t1')).toEqual([])
    const id = randomUUID()
    await post('t1', { id, ...formed('hub', 'h', { importance: 0.5, connections: [{ to: 'weak', strength: 0.8 }] }), meta: { correlationId: 'run-1' } })
    const [cascade] = await cascadesOf('t1')
    expect(cascade.actor).toEqual({ id: 'mnemo', name: 'mnemo', kind: 'server' })
    expect(cascade.meta).toEqual({ causationId: id, correlationId: 'run-1' })
    // weak: 0.5 · 0.8 · 0.5 (decay) = 0.2
    expect(cascade.data).toEqual({ source: 'hub', trigger: id, cascadeStrength: 0.5, affected: [{ memoryId: 'weak', activation: 0.2, depth: 1 }] })
    // The default importance is 0.5, which is the threshold.
    await post('t1', formed('plain', 'p'))
    expect((await cascadesOf('t1')).map((e) => e.data.source)).toEqual(['hub', 'plain'])
  })

  it('cascades from the `from` memory of a connection or strength change when it is important enough', async () => {
    await post('t2', { events: [formed('big', 'b', { importance: 0.9 }), formed('small', 's', { importance: 0.1 })] })
    const before = (await cascadesOf('t2')).length
    expect(before).toBe(1) // big's own formation
    const weak = await post('t2', connected('small', 'big', 0.5))
    expect((await cascadesOf('t2')).length).toBe(before)
    const strong = await post('t2', connected('big', 'small', 0.5))
    const change = await post('t2', changed('big', 'small', 1))
    await post('t2', changed('small', 'big', 0.4))
    await post('t2', { type: 'conversation.turn', data: { role: 'user', content: 'hello' } })
    const cascades = (await cascadesOf('t2')).slice(before)
    expect(cascades.map((e) => [e.data.source, e.data.trigger])).toEqual([
      ['big', strong.body.events[0].id],
      ['big', change.body.events[0].id],
    ])
    // Each runs over the graph with its trigger folded in: 0.9 · 1 · 0.5 after the change.
    expect(cascades[1].data.affected).toEqual([{ memoryId: 'small', activation: 0.45, depth: 1 }])
    expect(weak.status).toBe(201)
    // A memory nobody formed has the default importance 0.5: its connection cascades.
    await post('t2', connected('ghost', 'big', 0.2))
    expect((await cascadesOf('t2')).at(-1)!.data.source).toBe('ghost')
  })

  it('runs a requested cascade: 201 with the event, attributed to the caller; 404 for an unknown memory', async () => {
    await post('c1', { events: [formed('a', 'a', { importance: 0.4 }), connected('a', 'b', 1), connected('b', 'c', 1)] })
    const response = await call(url, 'POST', '/api/sessions/c1/cascades', { memoryId: 'a' }, alice)
    expect(response.status).toBe(201)
    expect(response.body).toMatchObject({
      session: 'c1',
      type: 'memory.cascade',
      actor: { id: 'alice', name: 'Alice', kind: 'human' },
      meta: { causationId: null, correlationId: null },
      data: {
        source: 'a', trigger: null, cascadeStrength: 0.4,
        affected: [{ memoryId: 'b', activation: 0.2, depth: 1 }, { memoryId: 'c', activation: 0.1, depth: 2 }],
      },
    })
    expect((await eventsOf('c1')).at(-1)).toEqual(response.body)
    const stronger = await call(url, 'POST', '/api/sessions/c1/cascades', { memoryId: 'c', strength: 1 })
    expect(stronger.body.data.cascadeStrength).toBe(1)
    expect(stronger.body.data.affected[0]).toEqual({ memoryId: 'b', activation: 0.5, depth: 1 })
    const unknown = await call(url, 'POST', '/api/sessions/c1/cascades', { memoryId: 'zzz' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('memory_not_found')
    for (const [body, message] of [[{}, /memoryId: is required/], [{ memoryId: 'a', strength: 2 }, /strength: must be at most 1/],
      [{ memoryId: 'a', extra: true }, /extra: unknown field/]] as const) {
      const refused = await call(url, 'POST', '/api/sessions/c1/cascades', body)
      expect(refused.status).toBe(400)
      expect(refused.body.error.message).toMatch(message)
    }
  })

  it('searches with ranking, an exact match first, and records memory.retrieved for the caller', async () => {
    await post('s1', { events: [
      formed('cats-1', 'Cats and dogs: cats chase cats, dogs chase cats, cats everywhere', { importance: 0.1 }),
      formed('cats-2', 'cats chase dogs', { importance: 0.1 }),
      formed('run-1', 'She was running through the park', { importance: 0.1, tags: ['exercise'] }),
      formed('other', 'Nothing to see here', { importance: 0.1 }),
      formed('o2', 'the other, the other other one', { importance: 0.1 }),
    ] })
    const exact = await call(url, 'POST', '/api/sessions/s1/memories/search', { query: 'Cats chase dogs' }, alice)
    expect(exact.status).toBe(200)
    expect(exact.body.results.map((r: any) => r.memoryId)).toEqual(['cats-2', 'cats-1'])
    expect(exact.body.results[0].score).toBeGreaterThan(exact.body.results[1].score)
    expect(exact.body.results[0]).toMatchObject({ content: 'cats chase dogs', importance: 0.1, tags: [] })
    const stemmed = await call(url, 'POST', '/api/sessions/s1/memories/search', { query: 'run', limit: 5 })
    expect(stemmed.body.results.map((r: any) => r.memoryId)).toEqual(['run-1'])
    expect((await call(url, 'POST', '/api/sessions/s1/memories/search', { query: 'exercise' })).body.results[0].memoryId).toBe('run-1')
    // The id itself ranks first, even when the text matches elsewhere too.
    const byId = await call(url, 'POST', '/api/sessions/s1/memories/search', { query: 'other' })
    expect(byId.body.results[0].memoryId).toBe('other')
    expect((await call(url, 'POST', '/api/sessions/s1/memories/search', { query: 'cats', limit: 1 })).body.results).toHaveLength(1)
    const none = await call(url, 'POST', '/api/sessions/s1/memories/search', { query: 'the' })
    expect(none.status).toBe(200)

    const retrieved = await eventsOf('s1', 'memory.retrieved')
    expect(retrieved).toHaveLength(6)
    expect(retrieved[0]).toMatchObject({
      id: exact.body.event.id,
      actor: { id: 'alice', name: 'Alice', kind: 'human' },
      data: { query: 'Cats chase dogs', results: exact.body.results.map((r: any) => ({ memoryId: r.memoryId, score: r.score })) },
    })
    for (const [body, message] of [[{}, /query: is required/], [{ query: '  ' }, /query: must not be empty/],
      [{ query: 'x', limit: 0 }, /limit: must be at least 1/], [{ query: 'x', limit: 101 }, /limit: must be at most 100/]] as const) {
      const refused = await call(url, 'POST', '/api/sessions/s1/memories/search', body)
      expect(refused.status).toBe(400)
      expect(refused.body.error.message).toMatch(message)
    }
  })

  it('lists memory events live for a `memory.*` stream filter', async () => {
    await post('f1', { events: [formed('m', 'x', { importance: 0.9 }), { type: 'conversation.turn', data: { role: 'user', content: 'hi' } }] })
    expect((await eventsOf('f1', 'memory.*')).map((e) => e.type)).toEqual(['memory.formed', 'memory.cascade'])
  })
})

describe('memory API with tokens', () => {
  const secret = 'm'.repeat(64)
  let server: TestServer
  const bearer = async (role: 'viewer' | 'editor', sessions?: string[]) => ({
    authorization: `Bearer ${await mintToken(secret, { sub: `${role}-1`, name: role, kind: 'agent', role, sessions })}`,
  })
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: secret, MNEMO_CASCADE_THRESHOLD: '0.9' })
  })
  afterAll(async () => server.stop())

  it('lets a viewer read and search (recorded for the viewer), not cascade; an editor cascades', async () => {
    const editor = await bearer('editor')
    const viewer = await bearer('viewer')
    const formedStrong = { type: 'memory.formed', data: { memoryId: 'm1', content: 'coffee beans', importance: 0.8 } }
    expect((await call(server.url, 'POST', '/api/sessions/a1/events', formedStrong, editor)).status).toBe(201)
    // 0.8 is below MNEMO_CASCADE_THRESHOLD=0.9: no automatic cascade.
    const log = await call(server.url, 'GET', '/api/sessions/a1/events', undefined, viewer)
    expect(log.body.events.map((e: any) => e.type)).toEqual(['session.created', 'memory.formed'])
    expect((await call(server.url, 'GET', '/api/sessions/a1/memories')).status).toBe(401)
    expect((await call(server.url, 'GET', '/api/sessions/a1/memories', undefined, viewer)).body.memories).toHaveLength(1)
    const search = await call(server.url, 'POST', '/api/sessions/a1/memories/search', { query: 'coffee' }, viewer)
    expect(search.status).toBe(200)
    expect((await call(server.url, 'GET', '/api/sessions/a1/events?types=memory.retrieved', undefined, viewer)).body.events[0].actor)
      .toEqual({ id: 'viewer-1', name: 'viewer', kind: 'agent' })
    expect((await call(server.url, 'POST', '/api/sessions/a1/cascades', { memoryId: 'm1' }, viewer)).status).toBe(403)
    expect((await call(server.url, 'POST', '/api/sessions/a1/cascades', { memoryId: 'm1' }, editor)).status).toBe(201)
    const other = await bearer('editor', ['b1'])
    expect((await call(server.url, 'GET', '/api/sessions/a1/context', undefined, other)).status).toBe(403)
  })
})
