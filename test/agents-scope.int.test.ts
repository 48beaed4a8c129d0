/**
 * Scoped tokens against a live server: a stock y-websocket client holding a token with `can`
 * has its in-scope updates stored and an out-of-scope one refused whole (close 4403 naming the
 * path, nothing stored); its own votes go through, nothing else of a decision; HTTP appends of
 * other types are 403 naming the type; fork needs an unscoped token; a token with an unknown
 * capability is refused at the door.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { SignJWT } from 'jose'
import { WebsocketProvider } from 'y-websocket'
import { mintToken, type MintOptions } from '../src/auth/tokens.js'
import { propose, rejectDecision, vote } from '../src/session/decisions.js'
import { getAnnotations, getSelections } from '../src/session/roots.js'
import { annotate, select } from '../src/session/write.js'
import { closeOf, sessionLog } from './fixtures/clients.js'
import { backends } from './fixtures/db.js'
import { refusals } from './fixtures/metrics.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'scoped-tokens-secret-0123456789abcdef-0123'
const backend = backends.at(-1)!
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

interface Client {
  doc: Y.Doc
  provider: WebsocketProvider
  closes: { code: number; reason: string }[]
  destroy(): void
}

describe('scoped tokens', () => {
  let server: TestServer
  let admin: string
  const clients: Client[] = []

  const token = (sub: string, more: Partial<MintOptions> = {}) =>
    mintToken(SECRET, { sub, name: sub, kind: 'agent', role: 'editor', onBehalfOf: 'alice', ...more })

  function connect(session: string, t: string): Client {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, session, doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { token: t }, maxBackoffTime: 200,
    })
    const closes: Client['closes'] = []
    provider.on('connection-close', (event) => {
      if (event) closes.push({ code: event.code, reason: event.reason })
    })
    const client = { doc, provider, closes, destroy: () => { provider.destroy(); doc.destroy() } }
    clients.push(client)
    return client
  }

  const docUpdatesBy = async (session: string, id: string) =>
    (await sessionLog(server.store, session)).filter((e) => e.type === 'doc.update' && e.actor.id === id)

  beforeAll(async () => {
    server = await startTestServer(backend, { MNEMO_AUTH_SECRET: SECRET })
    admin = await mintToken(SECRET, { sub: 'root', name: 'Root', kind: 'human', role: 'admin' })
  })
  afterAll(async () => {
    for (const c of clients) c.destroy()
    await server.stop()
  })

  it('stores an in-scope update, and refuses an out-of-scope one whole: 4403 naming the path, nothing stored', async () => {
    const alice = connect('scoped', await mintToken(SECRET, { sub: 'alice', name: 'Alice', kind: 'human', role: 'editor' }))
    await until(() => alice.provider.synced, { what: 'alice synced' })
    select(alice.doc, 'm-seed', 'alice')
    const bot = connect('scoped', await token('annotator', { can: ['annotations:write', 'memory.*:append'] }))
    await until(() => bot.provider.synced && getSelections(bot.doc).has('m-seed'), { what: 'the bot synced' })

    const note = annotate(bot.doc, { target: 'm-seed', author: 'annotator', text: 'in scope' })
    await until(async () => (await docUpdatesBy('scoped', 'annotator')).length === 1, { what: 'the annotation stored' })
    await until(() => getAnnotations(alice.doc).has(note), { what: 'the annotation reached alice' })

    // One update writing an annotation and a selection: refused whole.
    const before = await refusals(server.url)
    bot.doc.transact(() => {
      annotate(bot.doc, { target: 'm-seed', author: 'annotator', text: 'smuggled along' })
      select(bot.doc, 'm-forbidden', 'annotator')
    })
    await until(() => bot.closes.length > 0, { what: 'the bot closed' })
    expect(bot.closes[0]).toEqual({ code: 4403, reason: 'out of scope (needs selections:write): selections/m-forbidden' })
    expect((await refusals(server.url))['sync/scope']! - (before['sync/scope'] ?? 0)).toBe(1)
    bot.destroy()

    const updates = await docUpdatesBy('scoped', 'annotator')
    expect(updates).toHaveLength(1)
    expect(updates[0]!.data.changes).toEqual([{ path: 'annotations', op: 'add', key: note }])
    const state = (await call(server.url, 'GET', '/api/sessions/scoped', undefined, bearer(admin))).body.state
    expect(Object.keys(state.selections)).toEqual(['m-seed'])
    expect(Object.values(state.annotations).map((a: any) => a.text)).toEqual(['in scope'])
    expect(getSelections(alice.doc).has('m-forbidden')).toBe(false)
  })

  it('decisions:vote: its own vote is stored, and the quorum reached; setting a status is refused', async () => {
    const alice = connect('votes', await mintToken(SECRET, { sub: 'alice', name: 'Alice', kind: 'human', role: 'editor' }))
    await until(() => alice.provider.synced, { what: 'alice synced' })
    propose(alice.doc, { id: 'd1', question: 'ship it?', options: ['yes', 'no'], quorum: 2, createdBy: 'alice' })
    propose(alice.doc, { id: 'd2', question: 'and this?', options: ['yes', 'no'], quorum: 2, createdBy: 'alice' })
    vote(alice.doc, 'd1', 'alice', 'yes')
    const voter = connect('votes', await token('voter', { can: ['decisions:vote'] }))
    await until(() => voter.provider.synced && voter.doc.getMap('decisions').has('d2'), { what: 'the voter synced' })
    vote(voter.doc, 'd1', 'voter', 'yes')
    await until(async () => (await sessionLog(server.store, 'votes')).some((e) => e.type === 'decision.reached'), { what: 'the decision reached' })
    expect((await docUpdatesBy('votes', 'voter')).map((e) => e.data.changes)).toEqual([[{ path: 'decisions', op: 'update', key: 'd1', fields: ['votes'], votes: [{ key: 'voter', op: 'add' }] }]])

    rejectDecision(voter.doc, 'd2')
    await until(() => voter.closes.length > 0, { what: 'the voter closed' })
    expect(voter.closes[0]).toEqual({ code: 4403, reason: 'out of scope (needs decisions:write): decisions/d2/status' })
    voter.destroy()
    expect(await docUpdatesBy('votes', 'voter')).toHaveLength(1)
  })

  it('HTTP document writes: operations in scope are stored; one out of scope is 403 naming it, and nothing is stored', async () => {
    expect((await call(server.url, 'POST', '/api/sessions', { id: 'doc-scope' }, bearer(await token('owner', {})))).status).toBe(201)
    const t = bearer(await token('annotator', { can: ['annotations:write', 'decisions:vote'] }))
    const base = '/api/sessions/doc-scope/doc'
    expect((await call(server.url, 'POST', base, { ops: [{ op: 'annotate', target: 'm1', text: 'a note' }] }, t)).status).toBe(201)
    const before = await refusals(server.url)
    const refused = await call(server.url, 'POST', base, { ops: [{ op: 'annotate', target: 'm2', text: 'fine' }, { op: 'select', memoryId: 'm2' }] }, t)
    expect(refused.status).toBe(403)
    expect(refused.body.error).toMatchObject({ code: 'out_of_scope', message: expect.stringContaining('"select" needs selections:write') })
    expect((await refusals(server.url))['http/scope']! - (before['http/scope'] ?? 0)).toBe(1)
    expect(await docUpdatesBy('doc-scope', 'annotator')).toHaveLength(1)
  })

  it('HTTP: appends of types in scope are stored; any other type is 403 naming it, and the batch is refused whole', async () => {
    const t = bearer(await token('scribe', { can: ['memory.*:append', 'conversation.turn:append'] }))
    const base = `/api/sessions/http-scope/events`
    const formed = await call(server.url, 'POST', base, { type: 'memory.formed', data: { memoryId: 'm1', content: 'a fact', importance: 0.1 } }, t)
    expect(formed.status).toBe(201)
    expect((await call(server.url, 'POST', base, { type: 'conversation.turn', data: { role: 'agent', content: 'hi' } }, t)).status).toBe(201)

    const note = await call(server.url, 'POST', base, { type: 'note.added', data: { text: 'x' } }, t)
    expect(note.status).toBe(403)
    expect(note.body.error.code).toBe('out_of_scope')
    expect(note.body.error.message).toContain('"note.added"')
    const batch = await call(server.url, 'POST', base, {
      events: [{ type: 'memory.formed', data: { memoryId: 'm2', content: 'b' } }, { type: 'agent.rationale', data: { why: 'x' } }],
    }, t)
    expect(batch.status).toBe(403)
    expect(batch.body.error.message).toContain('"agent.rationale"')
    const types = (await sessionLog(server.store, 'http-scope')).map((e) => e.type)
    expect(types).toEqual(['session.created', 'memory.formed', 'conversation.turn'])

    // A cascade asked for is a memory.cascade written by the caller: memory.* covers it; a narrower scope does not.
    expect((await call(server.url, 'POST', '/api/sessions/http-scope/cascades', { memoryId: 'm1' }, t)).status).toBe(201)
    const talker = bearer(await token('talker', { can: ['conversation.turn:append'] }))
    const cascade = await call(server.url, 'POST', '/api/sessions/http-scope/cascades', { memoryId: 'm1' }, talker)
    expect(cascade.status).toBe(403)
    expect(cascade.body.error.message).toContain('"memory.cascade"')
  })

  it('fork needs a token without `can`; a token with an unknown capability is refused at both doors, naming it', async () => {
    const scopedAdmin = bearer(await mintToken(SECRET, { sub: 'boss', name: 'Boss', kind: 'human', role: 'admin', can: ['annotations:write'] }))
    const fork = await call(server.url, 'POST', '/api/sessions/http-scope/fork', { id: 'forked' }, scopedAdmin)
    expect(fork.status).toBe(403)
    expect(fork.body.error).toMatchObject({ code: 'out_of_scope', message: expect.stringContaining('forking a session') })

    const bad = await new SignJWT({ name: 'X', kind: 'agent', role: 'editor', can: ['annotations:write', 'everything:write'] })
      .setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
    const refused = await call(server.url, 'GET', '/api/sessions', undefined, bearer(bad))
    expect(refused.status).toBe(401)
    expect(refused.body.error.message).toContain('"everything:write" is not a capability')
    const closed = await closeOf(`${server.url.replace('http', 'ws')}/sync/scoped?token=${bad}`)
    expect(closed.code).toBe(4401)
    expect(closed.reason).toContain('everything:write')
  })
})
