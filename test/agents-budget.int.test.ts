/**
 * Budgets against a live server: a token's `budget` claim counts its writes over both doors
 * (Yjs updates over sync, events over HTTP); past it, HTTP answers 429 with `error.reason:
 * "budget"` and sync closes 4429 naming the budget, and nothing more is stored. A token bound to
 * a run speaks for no other; the SDK gives up on a spent per-run budget instead of retrying.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { joinSession, MnemoError } from '../src/agent/index.js'
import { mintToken, type MintOptions } from '../src/auth/tokens.js'
import { select } from '../src/session/write.js'
import { sessionLog } from './fixtures/clients.js'
import { backends } from './fixtures/db.js'
import { refusals } from './fixtures/metrics.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'budget-tokens-secret-0123456789abcdef-0123'
const backend = backends.at(-1)!
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })
const turn = (content: string) => ({ type: 'conversation.turn', data: { role: 'agent', content } })

describe('budgets', () => {
  let server: TestServer
  const cleanup: Array<() => unknown> = []
  const token = (sub: string, more: Partial<MintOptions> = {}) =>
    mintToken(SECRET, { sub, name: sub, kind: 'agent', role: 'editor', ...more })

  function connect(session: string, t: string) {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, session, doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { token: t }, maxBackoffTime: 200,
    })
    const closes: { code: number; reason: string }[] = []
    provider.on('connection-close', (event) => {
      if (event) closes.push({ code: event.code, reason: event.reason })
    })
    cleanup.push(() => { provider.destroy(); doc.destroy() })
    return { doc, provider, closes }
  }
  const writesBy = async (session: string, id: string) =>
    (await sessionLog(server.store, session)).filter((e) => e.actor.id === id && ['doc.update', 'conversation.turn'].includes(e.type))

  beforeAll(async () => {
    server = await startTestServer(backend, { MNEMO_AUTH_SECRET: SECRET })
  })
  afterAll(async () => {
    for (const done of cleanup) await done()
    await server.stop()
  })

  it('HTTP: eventsPerRun counts every event of a batch; past it, 429 with reason "budget" and no Retry-After', async () => {
    const t = bearer(await token('counted', { budget: { eventsPerRun: 3 }, run: 'r-1' }))
    const path = '/api/sessions/b-http/events'
    const before = await refusals(server.url)
    expect((await call(server.url, 'POST', path, { events: [turn('one'), turn('two')] }, t)).status).toBe(201)
    // A refused write counts nothing: a bad event, and a batch too large for what is left.
    expect((await call(server.url, 'POST', path, { type: 'memory.formed', data: {} }, t)).status).toBe(400)
    const tooMany = await call(server.url, 'POST', path, { events: [turn('three'), turn('four')] }, t)
    expect(tooMany.status).toBe(429)
    expect((await call(server.url, 'POST', path, turn('three'), t)).status).toBe(201)
    const over = await call(server.url, 'POST', path, turn('four'), t)
    expect(over.status).toBe(429)
    expect(over.headers.get('retry-after')).toBeNull()
    expect(over.body.error).toMatchObject({ code: 'budget_exceeded', reason: 'budget', budget: 'eventsPerRun', limit: 3 })
    expect(over.body.error.message).toMatch(/over budget \(eventsPerRun\): the token allows 3 writes in run "r-1"/)
    expect((await writesBy('b-http', 'counted')).map((e) => e.data.content)).toEqual(['one', 'two', 'three'])
    // Both 429s counted as budget refusals at the HTTP door.
    expect((await refusals(server.url))['http/budget']! - (before['http/budget'] ?? 0)).toBe(2)
    // Bound to r-1: another run is not a fresh budget.
    const elsewhere = await call(server.url, 'POST', path, turn('five'), { ...t, 'x-mnemo-run': 'r-2' })
    expect(elsewhere.status).toBe(403)
    expect(elsewhere.body.error.message).toContain('bound to run "r-1"')
  })

  it('HTTP document writes count against eventsPerRun too; a refused one counts nothing', async () => {
    const t = bearer(await token('doc-writer', { budget: { eventsPerRun: 2 }, run: 'r-doc' }))
    const path = '/api/sessions/b-doc/doc'
    expect((await call(server.url, 'POST', '/api/sessions', { id: 'b-doc' }, t)).status).toBe(201)
    expect((await call(server.url, 'POST', path, { ops: [{ op: 'select', memoryId: 'm1' }] }, t)).status).toBe(201)
    // A refused write (no such annotation) counts nothing.
    expect((await call(server.url, 'POST', path, { ops: [{ op: 'resolve', annotationId: 'nope' }] }, t)).status).toBeGreaterThanOrEqual(400)
    expect((await call(server.url, 'POST', path, { ops: [{ op: 'select', memoryId: 'm2' }] }, t)).status).toBe(201)
    const over = await call(server.url, 'POST', path, { ops: [{ op: 'select', memoryId: 'm3' }] }, t)
    expect(over.status).toBe(429)
    expect(over.body.error).toMatchObject({ reason: 'budget', budget: 'eventsPerRun' })
  })

  it('HTTP: updatesPerMinute answers 429 with Retry-After; bytesPerRun counts the events\' data', async () => {
    const fast = bearer(await token('fast', { budget: { updatesPerMinute: 2 } }))
    const path = '/api/sessions/b-rate/events'
    expect((await call(server.url, 'POST', path, turn('a'), fast)).status).toBe(201)
    expect((await call(server.url, 'POST', path, turn('b'), fast)).status).toBe(201)
    const over = await call(server.url, 'POST', path, turn('c'), fast)
    expect(over.status).toBe(429)
    expect(over.body.error).toMatchObject({ reason: 'budget', budget: 'updatesPerMinute', limit: 2 })
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)

    const wordy = bearer(await token('wordy', { budget: { bytesPerRun: 100 } }))
    expect((await call(server.url, 'POST', path, turn('short'), wordy)).status).toBe(201)
    const big = await call(server.url, 'POST', path, turn('x'.repeat(100)), wordy)
    expect(big.status).toBe(429)
    expect(big.body.error).toMatchObject({ reason: 'budget', budget: 'bytesPerRun', limit: 100 })
  })

  it('sync: updates count against the same budget as HTTP events; past it the connection closes 4429 naming it, nothing stored', async () => {
    const t = await token('syncer', { budget: { eventsPerRun: 3 } })
    const before = await refusals(server.url)
    expect((await call(server.url, 'POST', '/api/sessions/b-sync/events', turn('via http'), bearer(t))).status).toBe(201)
    const client = connect('b-sync', t)
    await until(() => client.provider.synced, { what: 'synced' })
    select(client.doc, 'm-1', 'syncer')
    select(client.doc, 'm-2', 'syncer')
    await until(async () => (await writesBy('b-sync', 'syncer')).length === 3, { what: 'two updates stored' })
    select(client.doc, 'm-3', 'syncer')
    await until(() => client.closes.length > 0, { what: 'closed' })
    expect(client.closes[0]!.code).toBe(4429)
    expect(client.closes[0]!.reason).toMatch(/^over budget \(eventsPerRun\): the token allows 3 writes in this token/)
    expect((await refusals(server.url))['sync/budget']! - (before['sync/budget'] ?? 0)).toBe(1)
    const writes = await writesBy('b-sync', 'syncer')
    expect(writes.map((e) => e.type)).toEqual(['conversation.turn', 'doc.update', 'doc.update'])
    expect(writes.flatMap((e) => (e.data.changes as { key: string }[] | undefined)?.map((c) => c.key) ?? [])).toEqual(['m-1', 'm-2'])
  })

  it('the SDK: a spent per-run budget is a final 429 (budget_exceeded), not retried', async () => {
    const s = await joinSession({ url: server.url, session: 'b-sdk', token: await token('sdk-agent', { budget: { eventsPerRun: 1 }, run: 'r-sdk' }) })
    cleanup.push(() => s.close())
    expect(s.me.run).toBe('r-sdk')
    await s.turn('agent', 'the one write it may make')
    const refused = await s.turn('agent', 'one too many').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(MnemoError)
    expect(refused).toMatchObject({ status: 429, code: 'budget_exceeded' })
    // The document side: the provider is refused for good.
    await s.select('m-1').catch(() => {})
    await until(() => s.status() === 'refused', { what: 'the sync connection refused' })
    await expect(s.flush()).rejects.toMatchObject({ status: 429, code: 'budget_exceeded' })
  })
})
