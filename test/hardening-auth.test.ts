/**
 * Every auth path of the SPEC against a live server with MNEMO_AUTH_SECRET, over HTTP and
 * the sync WebSocket: missing, forged, expired and misplaced tokens, viewers writing, admin
 * routes, `?token=`, the actor of an agent's events, presence that cannot be spoofed, and
 * the refusal to run open on a public address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken, type MintOptions } from '../src/auth/tokens.js'
import { loadConfig } from '../src/config.js'
import { startServer } from '../src/main.js'
import { encodeUpdate } from '../src/protocol/messages.js'
import { select } from '../src/session/write.js'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { closeOf, freshUpdate, peer, rawClient, sessionLog, type Peer } from './fixtures/clients.js'
import { until } from './fixtures/until.js'

const SECRET = 'hardening-secret-0123456789abcdef-0123456789'
const backend = backends.at(-1)!

const token = (sub: string, role: MintOptions['role'], more: Partial<MintOptions> = {}) =>
  mintToken(SECRET, { sub, name: sub.toUpperCase(), kind: 'human', role, ...more })
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe('auth paths', () => {
  let server: TestServer
  let ws: string
  const peers: Peer[] = []
  let admin: string, editor: string, viewer: string, onlyA: string, expired: string, forged: string
  beforeAll(async () => {
    server = await startTestServer(backend, { MNEMO_AUTH_SECRET: SECRET })
    ws = server.url.replace('http', 'ws') + '/sync'
    admin = await token('root', 'admin')
    editor = await token('ed', 'editor')
    viewer = await token('vi', 'viewer')
    onlyA = await token('ann', 'editor', { sessions: ['s-a'] })
    expired = await token('old', 'editor', { ttl: '1h', now: new Date(Date.now() - 3 * 3600_000) })
    forged = await mintToken('another-secret-0123456789abcdef-0123456789', { sub: 'ed', name: 'ED', kind: 'human', role: 'admin' })
  })
  afterAll(async () => {
    for (const p of peers) p.destroy()
    await server.stop()
  })

  it('HTTP: 401 without a token, with a forged, expired or alg:none one; /health needs none', async () => {
    expect((await call(server.url, 'GET', '/health')).status).toBe(200)
    const none = await call(server.url, 'GET', '/api/sessions')
    expect(none.status).toBe(401)
    expect(none.body.error.code).toBe('token_missing')
    expect((await call(server.url, 'GET', '/api/sessions', undefined, bearer(forged))).body.error.code).toBe('token_invalid')
    expect((await call(server.url, 'GET', '/api/sessions', undefined, bearer(expired))).body.error.code).toBe('token_expired')
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', name: 'X', kind: 'human', role: 'admin', exp: 2e9 })}.`
    expect((await call(server.url, 'GET', '/api/sessions', undefined, bearer(algNone))).status).toBe(401)
    expect((await call(server.url, 'GET', '/api/sessions', undefined, { authorization: 'Basic abc' })).status).toBe(401)
    expect((await call(server.url, 'GET', '/api/sessions', undefined, bearer(editor))).status).toBe(200)
  })

  it('HTTP: 403 for another session, a viewer writing, and an editor on admin routes', async () => {
    expect((await call(server.url, 'POST', '/api/sessions/s-a/events', turn('hi'), bearer(onlyA))).status).toBe(201)
    expect((await call(server.url, 'GET', '/api/sessions/s-b', undefined, bearer(onlyA))).status).toBe(403)
    expect((await call(server.url, 'POST', '/api/sessions/s-b/events', turn('hi'), bearer(onlyA))).status).toBe(403)
    const refused = await call(server.url, 'POST', '/api/sessions/s-a/events', turn('hi'), bearer(viewer))
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBe('forbidden')
    expect((await call(server.url, 'GET', '/api/sessions/s-a/events', undefined, bearer(viewer))).status).toBe(200)
    for (const [method, path, body] of [
      ['GET', '/api/events'], ['GET', '/api/stream'], ['POST', '/api/sessions/s-a/fork', { id: 's-a-fork' }],
    ] as const) {
      expect((await call(server.url, method, path, body, bearer(editor))).status, `${method} ${path}`).toBe(403)
    }
    expect((await call(server.url, 'GET', '/api/events', undefined, bearer(admin))).status).toBe(200)
    expect((await call(server.url, 'POST', '/api/sessions/s-a/fork', { id: 's-a-fork' }, bearer(admin))).status).toBe(201)
    // Only the admin's token lists every session; a token for s-a cannot read the global feed.
    const adminOfA = await token('boss', 'admin', { sessions: ['s-a'] })
    expect((await call(server.url, 'GET', '/api/events', undefined, bearer(adminOfA))).status).toBe(403)
  })

  it('HTTP: ?token= works for SSE (EventSource cannot set headers)', async () => {
    const abort = new AbortController()
    const response = await fetch(`${server.url}/api/sessions/s-a/stream?token=${viewer}`, { signal: abort.signal })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = response.body!.getReader()
    let text = ''
    while (!text.includes('conversation.turn')) text += new TextDecoder().decode((await reader.read()).value)
    abort.abort()
    expect((await fetch(`${server.url}/api/sessions/s-a/stream?token=${forged}`)).status).toBe(401)
  })

  it('WebSocket: 4401 without a token, forged or expired; 4403 for another session; header or ?token= admit', async () => {
    expect((await closeOf(`${ws}/w1`)).code).toBe(4401)
    expect((await closeOf(`${ws}/w1?token=${forged}`)).code).toBe(4401)
    expect((await closeOf(`${ws}/w1?token=${expired}`)).code).toBe(4401)
    expect((await closeOf(`${ws}/w1`, bearer('not.a.jwt'))).code).toBe(4401)
    expect((await closeOf(`${ws}/s-b?token=${onlyA}`)).code).toBe(4403)
    expect((await closeOf(`${ws}/bad%20id?token=${editor}`)).code).toBe(4400)
    const byHeader = await rawClient(`${ws}/w1`, bearer(editor))
    await byHeader.greeted
    expect(await byHeader.handled()).toBe(true)
    byHeader.ws.close()
    const byQuery = peer(ws, 'w1', { token: editor })
    peers.push(byQuery)
    await byQuery.synced()
  })

  it('WebSocket: a viewer is refused a session that does not exist, reads one that does, and is closed (4403) when it writes', async () => {
    expect((await closeOf(`${ws}/v-new?token=${viewer}`)).code).toBe(4403)
    const ed = peer(ws, 'v1', { token: editor })
    peers.push(ed)
    await ed.synced()
    select(ed.doc, 'm-1', 'ed')
    const vi = peer(ws, 'v1', { token: viewer })
    peers.push(vi)
    await until(() => vi.doc.getMap('selections').has('m-1'), { what: 'the viewer to receive the editor\'s selection' })
    const raw = await rawClient(`${ws}/v1?token=${viewer}`)
    await raw.greeted
    raw.ws.send(encodeUpdate(freshUpdate('viewer-was-here')))
    expect((await raw.closed).code).toBe(4403)
    // It never reached the room, the others or the log.
    select(ed.doc, 'm-2', 'ed')
    await until(() => vi.doc.getMap('selections').has('m-2'), { what: 'the viewer to receive a later selection' })
    expect(server.rooms.docOf('v1')!.getMap('selections').has('viewer-was-here')).toBe(false)
    const log = await sessionLog(server.store, 'v1')
    expect(log.filter((e) => e.type === 'doc.update').map((e) => e.actor.id)).toEqual(['ed', 'ed'])
  })

  it('puts model, onBehalfOf and run into the actor of every event an agent\'s connection produces', async () => {
    const agent = await token('agent-7', 'editor', { kind: 'agent', name: 'Navigator', model: 'gpt-x', onBehalfOf: 'alice' })
    const nav = peer(ws, 'ag', { token: agent, run: 'r-7' })
    peers.push(nav)
    await nav.synced()
    select(nav.doc, 'm-9', 'agent-7')
    const expected = { id: 'agent-7', name: 'Navigator', kind: 'agent', model: 'gpt-x', onBehalfOf: 'alice', run: 'r-7' }
    await until(async () => (await sessionLog(server.store, 'ag')).some((e) => e.type === 'doc.update'), { what: 'the update to be stored' })
    const log = await sessionLog(server.store, 'ag')
    for (const type of ['participant.joined', 'doc.update']) {
      expect(log.find((e) => e.type === type)!.actor, type).toEqual(expected)
    }
    // And over HTTP, with X-Mnemo-Run.
    const posted = await call(server.url, 'POST', '/api/sessions/ag/events', turn('hello'), { ...bearer(agent), 'x-mnemo-run': 'r-8' })
    const [stored] = await server.store.read('ag', { after: posted.body.events[0].position - 1, limit: 1 })
    expect(stored!.actor).toEqual({ ...expected, run: 'r-8' })
  })

  it('stamps presence with the token identity: a client posing as "admin" is seen as itself', async () => {
    const mallory = peer(ws, 'pr', { token: await token('mallory', 'editor') })
    const bob = peer(ws, 'pr', { token: await token('bob', 'editor') })
    peers.push(mallory, bob)
    await Promise.all([mallory.synced(), bob.synced()])
    mallory.provider.awareness.setLocalState({ user: { id: 'root', name: 'admin', kind: 'human' }, cursor: 3 })
    const id = mallory.doc.clientID
    await until(() => (bob.provider.awareness.getStates().get(id) as { cursor?: number } | undefined)?.cursor === 3, { what: 'bob to see mallory\'s cursor' })
    expect(bob.provider.awareness.getStates().get(id)).toEqual({ cursor: 3, user: { id: 'mallory', name: 'MALLORY', kind: 'human' } })
  })
})

describe('startup', () => {
  it('refuses to run open on a non-loopback HOST unless MNEMO_ALLOW_OPEN=1', async () => {
    const { config: db, drop } = await backend.create()
    const env = {
      PORT: '0', HOST: '0.0.0.0',
      ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl, MNEMO_DB_SCHEMA: db.schema! } : { MNEMO_DATA_DIR: 'memory://' }),
    }
    await expect(startServer(loadConfig(env))).rejects.toThrow(/Refusing to start without auth on HOST=0\.0\.0\.0.*MNEMO_AUTH_SECRET.*MNEMO_ALLOW_OPEN=1/)
    const warnings: string[] = []
    const log = { warn: (m: unknown) => warnings.push(String(m)), info() {}, error() {}, debug() {}, child: () => log }
    const open = await startServer(loadConfig({ ...env, MNEMO_ALLOW_OPEN: '1' }), { log: log as never })
    expect(warnings.join()).toMatch(/Auth is off on 0\.0\.0\.0, a non-loopback address/)
    await open.close()
    await drop()
    await expect(startServer(loadConfig({ ...env, MNEMO_AUTH_SECRET: 'short' }))).rejects.toThrow(/at least 32 bytes/)
  })
})

function turn(content: string) {
  return { type: 'conversation.turn', data: { role: 'user', content } }
}

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
