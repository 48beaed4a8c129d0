/** The event HTTP API end to end: append, idempotency, conflicts, validation, read, SSE resume. */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { readSse } from './fixtures/sse.js'
import { until } from './fixtures/until.js'

describe.each(backends)('event API on $name', (backend) => {
  let server: TestServer
  let url: string
  beforeAll(async () => {
    server = await startTestServer(backend)
    url = server.url
  })
  afterAll(async () => server.stop())

  const turn = (content: string) => ({ type: 'conversation.turn', data: { role: 'user', content } })

  it('appends one event, creating the session, and returns 200 with the original on a repeat', async () => {
    const id = randomUUID()
    const first = await call(url, 'POST', '/api/sessions/a1/events', { id, ...turn('hello') }, { 'x-mnemo-id': 'alice', 'x-mnemo-name': 'Alice' })
    expect(first.status).toBe(201)
    expect(first.body.events).toEqual([{ id, position: expect.any(Number), version: 2 }])
    const again = await call(url, 'POST', '/api/sessions/a1/events', { id, ...turn('hello') })
    expect(again.status).toBe(200)
    expect(again.body).toEqual(first.body)
    const read = await call(url, 'GET', '/api/sessions/a1/events')
    expect(read.body.events.map((e: any) => e.type)).toEqual(['session.created', 'conversation.turn'])
    expect(read.body.events[1].actor).toEqual({ id: 'alice', name: 'Alice', kind: 'human' })
  })

  it('appends a batch atomically; a bad event in it writes nothing and is named', async () => {
    const ok = await call(url, 'POST', '/api/sessions/b1/events', { events: [turn('1'), turn('2')] })
    expect(ok.status).toBe(201)
    expect(ok.body.events.map((e: any) => e.version)).toEqual([2, 3])
    const bad = await call(url, 'POST', '/api/sessions/b1/events', {
      events: [turn('3'), { type: 'memory.formed', data: { memoryId: 'm1', content: 'x', importance: 2 } }],
    })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/^events\[1\]\.data\.importance/)
    expect((await call(url, 'GET', '/api/sessions/b1/events')).body.events).toHaveLength(3)
  })

  it('reads pages and filters by type pattern', async () => {
    await call(url, 'POST', '/api/sessions/f1/events', {
      events: [
        { type: 'memory.formed', data: { memoryId: 'm1', content: 'one', importance: 0.1 } },
        turn('t'),
        { type: 'memory.formed', data: { memoryId: 'm2', content: 'two', importance: 0.1 } },
      ],
    })
    const memories = await call(url, 'GET', '/api/sessions/f1/events?types=memory.*')
    expect(memories.body.events.map((e: any) => e.data.memoryId)).toEqual(['m1', 'm2'])
    const page = await call(url, 'GET', '/api/sessions/f1/events?limit=2')
    expect(page.body.events).toHaveLength(2)
    const rest = await call(url, 'GET', `/api/sessions/f1/events?after=${page.body.next}`)
    expect(rest.body.events.map((e: any) => e.type)).toEqual(['conversation.turn', 'memory.formed'])
  })

  it('reads by version range, in any order, and pages within a range', async () => {
    // Another session's events in between: positions have gaps in v1, versions do not.
    for (let i = 0; i < 5; i++) {
      await call(url, 'POST', '/api/sessions/v1/events', { events: [turn(`a${i}`), { type: 'memory.formed', data: { memoryId: `m${i}`, content: 'x', importance: 0.5 } }] })
      await call(url, 'POST', '/api/sessions/v1-other/events', turn(`b${i}`))
    }
    const all = (await call(url, 'GET', '/api/sessions/v1/events?limit=1000')).body.events as { version: number; position: number; type: string }[]
    const head = (await call(url, 'GET', '/api/sessions/v1')).body
    expect(all.length).toBeGreaterThanOrEqual(11)
    expect(all.map((e) => e.version)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1))
    expect(head.version).toBe(all.length)
    const versions = (page: { body: { events: { version: number }[] } }) => page.body.events.map((e) => e.version)
    const through = (v: number) => Array.from({ length: v }, (_, i) => i + 1)
    // The newest range first, then the older one: together, the log in order.
    const newest = await call(url, 'GET', `/api/sessions/v1/events?afterVersion=6&throughVersion=${head.version}&limit=1000`)
    expect(newest.status).toBe(200)
    expect(versions(newest)).toEqual(through(head.version).slice(6))
    expect(newest.body.next).toBeNull()
    const oldest = await call(url, 'GET', '/api/sessions/v1/events?throughVersion=6&limit=1000')
    expect(versions(oldest)).toEqual([1, 2, 3, 4, 5, 6])
    expect([...oldest.body.events, ...newest.body.events]).toEqual(all)
    // Within a range, `limit` pages and `next` is the next page's afterVersion.
    const first = await call(url, 'GET', '/api/sessions/v1/events?afterVersion=2&throughVersion=8&limit=4')
    expect(versions(first)).toEqual([3, 4, 5, 6])
    expect(first.body.next).toBe(6)
    const second = await call(url, 'GET', `/api/sessions/v1/events?afterVersion=${first.body.next}&throughVersion=8&limit=4`)
    expect(versions(second)).toEqual([7, 8])
    expect(second.body.next).toBeNull()
    // A full page that ends the range has no next; an open range pages on.
    expect((await call(url, 'GET', '/api/sessions/v1/events?afterVersion=4&throughVersion=8&limit=4')).body.next).toBeNull()
    expect((await call(url, 'GET', '/api/sessions/v1/events?afterVersion=8&limit=2')).body.next).toBe(10)
    // With a type filter: that range's events of those types.
    const memories = await call(url, 'GET', '/api/sessions/v1/events?afterVersion=3&throughVersion=9&types=memory.*,session.created')
    expect(memories.body.events).toEqual(all.filter((e) => e.version > 3 && e.version <= 9 && e.type.startsWith('memory.')))
    expect(memories.body.events.length).toBeGreaterThan(0)
    const refused = await call(url, 'GET', '/api/sessions/v1/events?after=3&afterVersion=3')
    expect(refused.status).toBe(400)
    expect(refused.body.error.message).toMatch(/^after cannot be combined with afterVersion/)
  })

  it('streams live over SSE and resumes with Last-Event-ID', async () => {
    await call(url, 'POST', '/api/sessions/g1/events', turn('before'))
    let arrived = 0
    const live = readSse(`${url}/api/sessions/g1/stream?types=conversation.turn`, { count: 3, onMessage: () => void (arrived += 1) })
    await until(() => arrived === 1, { what: 'the stream to deliver the history (it is live)' })
    await call(url, 'POST', '/api/sessions/g1/events', turn('during-1'))
    await call(url, 'POST', '/api/sessions/g1/events', turn('during-2'))
    const first = await live
    expect(first.map((m) => JSON.parse(m.data).data.content)).toEqual(['before', 'during-1', 'during-2'])
    expect(first.map((m) => Number(m.id))).toEqual(first.map((m) => JSON.parse(m.data).position))

    await call(url, 'POST', '/api/sessions/g1/events', turn('while-away'))
    const resumed = await readSse(`${url}/api/sessions/g1/stream?types=conversation.turn`, {
      count: 1, headers: { 'last-event-id': first[1].id! },
    })
    expect(JSON.parse(resumed[0].data).data.content).toBe('during-2')
  })

  it('verifies a session and 404s an unknown one', async () => {
    await call(url, 'POST', '/api/sessions/h1/events', turn('x'))
    expect((await call(url, 'GET', '/api/sessions/h1/verify')).body).toEqual({ ok: true, checked: 2 })
    expect((await call(url, 'GET', '/api/sessions/nope/verify')).status).toBe(404)
  })

  it('serves health and metrics without a token, and the global feed', async () => {
    expect((await call(url, 'GET', '/health')).body).toEqual({ status: 'ok', db: 'ok' })
    const metrics = await fetch(`${url}/metrics`).then((r) => r.text())
    expect(metrics).toMatch(/mnemo_http_request_duration_seconds/)
    const all = await call(url, 'GET', '/api/events?limit=1000')
    expect(all.body.events.length).toBeGreaterThan(5)
    // Every event appended is counted by type.
    const counted = [...metrics.matchAll(/^mnemo_events_appended_total\{type="[^"]+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
    expect(counted).toBe(all.body.events.length)
  })
})
