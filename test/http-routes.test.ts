/**
 * The HTTP routes without a server: validation, error mapping and auth refusals through
 * Hono's `app.request()`, over the real store on an in-memory PGlite. What needs sockets
 * (SSE delivery, sync) stays in the end-to-end tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken, type MintOptions } from '../src/auth/tokens.js'
import { startTestApp, type TestApp } from './fixtures/app.js'

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
})

async function answer(app: TestApp['app'], path: string, init?: RequestInit) {
  const response = await app.request(path, init)
  const text = await response.text()
  let body: any
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = text
  }
  return { status: response.status, body }
}

/** A 4xx with the error envelope, whose message names `field`. */
function refused(result: { status: number; body: any }, status: number, code: string | RegExp, field?: string | RegExp) {
  expect(result.status, JSON.stringify(result.body)).toBe(status)
  expect(result.body.error.code).toMatch(code)
  if (field !== undefined) expect(result.body.error.message).toMatch(field)
}

const turn = (content: string) => ({ type: 'conversation.turn', data: { role: 'user', content } })

describe('routes in open mode', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await startTestApp({ maxBodyBytes: 20_000, maxBatchEvents: 3 })
    expect((await answer(t.app, '/api/sessions/s1/events', json(turn('hello')))).status).toBe(201)
  })
  afterAll(async () => t.close())

  describe('events', () => {
    it('refuses a body that is not JSON, or not declared as JSON', async () => {
      refused(await answer(t.app, '/api/sessions/s1/events', { method: 'POST', body: JSON.stringify(turn('x')) }), 400, 'unsupported_media_type', /Content-Type/)
      refused(await answer(t.app, '/api/sessions/s1/events', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), 400, 'unsupported_media_type')
      refused(await answer(t.app, '/api/sessions/s1/events', json('{"type": ')), 400, 'invalid_json', /not valid JSON/)
    })

    it('names the field that is missing, wrong or unknown', async () => {
      refused(await answer(t.app, '/api/sessions/s1/events', json({ data: {} })), 400, /invalid/, /type/)
      refused(await answer(t.app, '/api/sessions/s1/events', json({ type: 42, data: {} })), 400, /invalid/, /type/)
      refused(await answer(t.app, '/api/sessions/s1/events', json({ ...turn('x'), colour: 'red' })), 400, /invalid/, /colour/)
      refused(await answer(t.app, '/api/sessions/s1/events', json({ type: 'conversation.turn', data: { role: 'user' } })), 400, /invalid/, /content/)
      refused(await answer(t.app, '/api/sessions/s1/events', json({ events: [turn('a'), { type: 'memory.formed', data: {} }] })), 400, /invalid/, /events\[1\]/)
    })

    it('refuses a session id that breaks the rule', async () => {
      refused(await answer(t.app, '/api/sessions/bad%20id/events', json(turn('x'))), 400, /./, /session/i)
      refused(await answer(t.app, `/api/sessions/${'x'.repeat(300)}/events`), 400, /./, /session/i)
    })

    it('maps too big a batch and too big a body to 413', async () => {
      refused(await answer(t.app, '/api/sessions/s1/events', json({ events: [turn('1'), turn('2'), turn('3'), turn('4')] })), 413, 'batch_too_large', /at most 3/)
      refused(await answer(t.app, '/api/sessions/s1/events', json(turn('x'.repeat(30_000)))), 413, 'body_too_large', /20000 bytes/)
    })

    it('maps a stale expectedVersion to 409 and bad paging parameters to 400', async () => {
      refused(await answer(t.app, '/api/sessions/s1/events', json({ ...turn('late'), expectedVersion: 0 })), 409, 'version_conflict')
      refused(await answer(t.app, '/api/sessions/s1/events?after=-1'), 400, /./, /after/)
      refused(await answer(t.app, '/api/sessions/s1/events?limit=lots'), 400, /./, /limit/)
      refused(await answer(t.app, '/api/events?after=x'), 400, /./, /after/)
    })

    it('refuses a bad version range, naming the parameter and what to do', async () => {
      refused(await answer(t.app, '/api/sessions/s1/events?afterVersion=-1'), 400, 'invalid_request', /afterVersion must be a whole number ≥ 0/)
      refused(await answer(t.app, '/api/sessions/s1/events?throughVersion=1.5'), 400, 'invalid_request', /throughVersion must be a whole number ≥ 0/)
      refused(await answer(t.app, '/api/sessions/s1/events?throughVersion=2147483648'), 400, 'invalid_request', /throughVersion must be a session version from 0 to 2147483647/)
      refused(await answer(t.app, '/api/sessions/s1/events?after=0&afterVersion=0'), 400, 'invalid_request', /after cannot be combined with afterVersion or throughVersion: page by position \(after\) or by version/)
      refused(await answer(t.app, '/api/sessions/s1/events?after=1&throughVersion=5'), 400, 'invalid_request', /after cannot be combined/)
      refused(await answer(t.app, '/api/sessions/s1/events?afterVersion=5&throughVersion=4'), 400, 'invalid_request', /throughVersion \(4\) must be at least afterVersion \(5\)/)
      refused(await answer(t.app, '/api/sessions/nobody/events?afterVersion=0&throughVersion=10'), 404, 'session_not_found')
      // An empty range, or one past the head, is an empty page of a session that exists.
      expect((await answer(t.app, '/api/sessions/s1/events?afterVersion=1&throughVersion=1')).body).toEqual({ events: [], next: null })
      expect((await answer(t.app, '/api/sessions/s1/events?afterVersion=100')).body).toEqual({ events: [], next: null })
    })

    it('404s the verification of an unknown session', async () => {
      refused(await answer(t.app, '/api/sessions/nobody/verify'), 404, /not_found/)
      expect((await answer(t.app, '/api/sessions/s1/verify')).body).toMatchObject({ ok: true })
    })

    it('answers an unknown route with the error envelope', async () => {
      refused(await answer(t.app, '/api/nothing-here'), 404, 'not_found', /GET \/api\/nothing-here/)
    })
  })

  describe('sessions', () => {
    it('validates creation and refuses an existing id', async () => {
      refused(await answer(t.app, '/api/sessions', json({ id: 'has space' })), 400, /invalid/, /id/)
      refused(await answer(t.app, '/api/sessions', json({ id: 'fine', extra: 1 })), 400, /invalid/, /extra/)
      refused(await answer(t.app, '/api/sessions', { method: 'POST', body: '{"id":"fine"}' }), 400, 'unsupported_media_type')
      expect((await answer(t.app, '/api/sessions', json({ id: 'made' }))).status).toBe(201)
      refused(await answer(t.app, '/api/sessions', json({ id: 'made' })), 409, 'session_exists', /made/)
    })

    it('404s an unknown session', async () => {
      refused(await answer(t.app, '/api/sessions/nobody'), 404, /not_found/, /nobody/)
    })
  })

  describe('memory', () => {
    it('404s the memories, context and search of an unknown session', async () => {
      refused(await answer(t.app, '/api/sessions/nobody/memories'), 404, /not_found/)
      refused(await answer(t.app, '/api/sessions/nobody/context'), 404, /not_found/)
      refused(await answer(t.app, '/api/sessions/nobody/memories/search', json({ query: 'x' })), 404, /not_found/)
    })

    it('names the bad field of a search, a cascade and a context format', async () => {
      refused(await answer(t.app, '/api/sessions/s1/memories/search', json({ query: 7 })), 400, /invalid/, /query/)
      refused(await answer(t.app, '/api/sessions/s1/cascades', json({ memoryId: 'm1', strength: 'strong' })), 400, /invalid/, /strength/)
      refused(await answer(t.app, '/api/sessions/s1/cascades', json('nope')), 400, /invalid/)
      refused(await answer(t.app, '/api/sessions/s1/context?format=xml'), 400, /invalid/, /format/)
    })

    it('404s a cascade from a memory that does not exist', async () => {
      refused(await answer(t.app, '/api/sessions/s1/cascades', json({ memoryId: 'no-such-memory' })), 404, 'memory_not_found', /no-such-memory/)
    })
  })

  describe('replay', () => {
    it('404s the state, replay and export of an unknown session', async () => {
      refused(await answer(t.app, '/api/sessions/nobody/state'), 404, /not_found/)
      refused(await answer(t.app, '/api/sessions/nobody/replay?speed=0'), 404, /not_found/)
      refused(await answer(t.app, '/api/sessions/nobody/export'), 404, /not_found/)
    })

    it('names what is wrong with at, time, from, to and speed', async () => {
      refused(await answer(t.app, '/api/sessions/s1/state?at=1&time=2026-11-21T10:00:00.000Z'), 400, /invalid/, /not both/)
      refused(await answer(t.app, '/api/sessions/s1/state?time=yesterday'), 400, /invalid/, /time must be an ISO 8601/)
      refused(await answer(t.app, '/api/sessions/s1/state?at=-3'), 400, /invalid/, /at/)
      refused(await answer(t.app, '/api/sessions/s1/replay?from=5&to=2'), 400, /invalid/, /from \(5\) must not be after to \(2\)/)
      refused(await answer(t.app, '/api/sessions/s1/replay?speed=-1'), 400, /invalid/, /speed/)
    })

    it('validates a fork and maps its outcomes', async () => {
      refused(await answer(t.app, '/api/sessions/s1/fork', json({ at: 1 })), 400, /invalid/, /id/)
      refused(await answer(t.app, '/api/sessions/s1/fork', json({ id: 'f', at: 'one' })), 400, /invalid/, /at/)
      refused(await answer(t.app, '/api/sessions/nobody/fork', json({ id: 'f2', at: 1 })), 404, /not_found/)
      expect((await answer(t.app, '/api/sessions/s1/fork', json({ id: 'f3', at: 1 }))).status).toBe(201)
      refused(await answer(t.app, '/api/sessions/s1/fork', json({ id: 'f3', at: 1 })), 409, 'session_exists')
    })
  })
})

// Moved here from the end-to-end tests (http-events, memory-http, replay-http): nothing in
// them needs a socket. `call` keeps their shape, answered by the app.
describe('routes in open mode, as the end-to-end tests checked them', () => {
  let t: TestApp
  const url = ''
  const call = (_base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    answer(t.app, path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
  const alice = { 'x-mnemo-id': 'alice', 'x-mnemo-name': 'Alice', 'x-mnemo-kind': 'human' }
  const post = (session: string, body: unknown, headers: Record<string, string> = alice) =>
    call(url, 'POST', `/api/sessions/${session}/events`, body, headers)
  const formed = (memoryId: string, content: string, extra: Record<string, unknown> = {}) =>
    ({ type: 'memory.formed', data: { memoryId, content, ...extra } })
  const connected = (from: string, to: string, strength: number) => ({ type: 'memory.connected', data: { from, to, strength } })
  beforeAll(async () => {
    t = await startTestApp()
    expect((await call(url, 'POST', '/api/sessions/s1/events', turn('hello'))).status).toBe(201)
  })
  afterAll(async () => t.close())

  it('answers 409 when expectedVersion is not the session version', async () => {
    await call(url, 'POST', '/api/sessions/c1/events', { ...turn('x'), expectedVersion: 0 })
    const conflict = await call(url, 'POST', '/api/sessions/c1/events', { ...turn('y'), expectedVersion: 0 })
    expect(conflict.status).toBe(409)
    expect(conflict.body.error).toMatchObject({ code: 'version_conflict', message: expect.stringMatching(/version 2/) })
    expect((await call(url, 'POST', '/api/sessions/c1/events', { ...turn('y'), expectedVersion: 2 })).status).toBe(201)
  })

  it('answers 400 naming the field for unknown fields, wrong types, reserved types and bad JSON', async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...turn('x'), extra: 1 }, /extra: unknown field/],
      [{ type: 'conversation.turn', data: { role: 'user', content: 5 } }, /data\.content/],
      [{ type: 'doc.update', data: {} }, /doc\.update/],
      [{ type: 'memory.cascade', data: {} }, /memory\.cascade/],
      [{ type: 'notdotted', data: {} }, /type/],
      [{ type: 'x.y', data: [] }, /data/],
      [{ type: 'x.y', data: {}, expectedVersion: -1 }, /expectedVersion/],
      [{ id: 'not-a-uuid', type: 'x.y', data: {} }, /id/],
    ]
    for (const [body, message] of cases) {
      const response = await call(url, 'POST', '/api/sessions/d1/events', body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.body.error.message, JSON.stringify(body)).toMatch(message)
    }
    expect((await call(url, 'POST', '/api/sessions/d1/events', '{nope')).body.error.code).toBe('invalid_json')
    expect((await call(url, 'POST', '/api/sessions/bad%20id/events', turn('x'))).status).toBe(400)
    expect((await call(url, 'GET', '/api/sessions/d1/events?types=memory.**')).status).toBe(400)
    // Nothing was stored, so the session was never created.
    expect((await call(url, 'GET', '/api/sessions/d1/events')).body.error.code).toBe('session_not_found')
  })

  it('answers 413 for data over 64 KiB and for a body over the limit', async () => {
    const big = await call(url, 'POST', '/api/sessions/e1/events', { type: 'x.y', data: { blob: 'a'.repeat(70_000) } })
    expect(big.status).toBe(413)
    const huge = await call(url, 'POST', '/api/sessions/e1/events', { type: 'x.y', data: { blob: 'a'.repeat(1_100_000) } })
    expect(huge.status).toBe(413)
  })

  it('answers 400 naming the field for bad memory events, and 404 for unknown sessions', async () => {
    const bad = await post('v1', formed('m1', 'x', { importance: 2 }))
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toBe('data.importance: must be at most 1')
    expect((await post('v1', connected('m1', 'm1', 0.5))).body.error.message).toMatch(/^data\.to: must differ/)
    expect((await post('v1', { type: 'memory.retrieved', data: { query: 'x', results: [] } })).status).toBe(400)
    expect((await call(url, 'GET', '/api/sessions/nope/memories')).status).toBe(404)
    expect((await call(url, 'POST', '/api/sessions/nope/memories/search', { query: 'x' })).status).toBe(404)
    expect((await call(url, 'POST', '/api/sessions/nope/cascades', { memoryId: 'm1' })).status).toBe(404)
    expect((await call(url, 'GET', '/api/sessions/nope/context')).status).toBe(404)
  })

  it('answers 400 naming the parameter, and 404 for an unknown session', async () => {
    const cases: [string, RegExp][] = [
      ['at=1&time=2026-01-01T00:00:00Z', /either at .* or time/],
      ['at=-3', /^at must be/],
      ['at=x', /^at must be/],
      ['time=yesterday', /^time must be an ISO 8601/],
      ['time=2026-01-01T10:00', /^time must be/],
    ]
    for (const [query, message] of cases) {
      const response = await call(url, 'GET', `/api/sessions/s1/state?${query}`)
      expect(response.status, query).toBe(400)
      expect(response.body.error.message, query).toMatch(message)
    }
    expect((await call(url, 'GET', '/api/sessions/nope/state')).status).toBe(404)
    expect((await call(url, 'GET', '/api/sessions/nope/replay')).status).toBe(404)
    expect((await call(url, 'GET', '/api/sessions/nope/export')).status).toBe(404)
    expect((await call(url, 'GET', '/api/sessions/s1/replay?speed=-1')).body.error.message).toMatch(/^speed must be/)
    expect((await call(url, 'GET', '/api/sessions/s1/replay?from=9&to=3')).status).toBe(400)
  })
})

describe('routes in token mode', () => {
  const SECRET = 'routes-secret-0123456789abcdef-0123456789'
  const token = (sub: string, role: MintOptions['role'], more: Partial<MintOptions> = {}) =>
    mintToken(SECRET, { sub, name: sub.toUpperCase(), kind: 'human', role, ...more })
  const as = (t: string) => ({ authorization: `Bearer ${t}` })
  let t: TestApp
  let editor: string, viewer: string, onlyA: string, expired: string, forged: string
  beforeAll(async () => {
    t = await startTestApp({ secret: SECRET })
    editor = await token('ed', 'editor')
    viewer = await token('vi', 'viewer')
    onlyA = await token('ann', 'editor', { sessions: ['s-a'] })
    expired = await token('old', 'editor', { ttl: '1h', now: new Date(Date.now() - 3 * 3600_000) })
    forged = await mintToken('another-secret-0123456789abcdef-0123456789', { sub: 'ed', name: 'ED', kind: 'human', role: 'admin' })
    for (const session of ['s-a', 's-b']) {
      expect((await answer(t.app, `/api/sessions/${session}/events`, json(turn('x'), as(editor)))).status).toBe(201)
    }
  })
  afterAll(async () => t.close())

  it('401s a request without a token, or with a forged, expired or malformed one; /health needs none', async () => {
    for (const path of ['/api/sessions/s-a/events', '/api/sessions/s-a/memories', '/api/sessions/s-a/state', '/api/sessions']) {
      refused(await answer(t.app, path), 401, /./)
    }
    refused(await answer(t.app, '/api/sessions/s-a/events', { headers: as(forged) }), 401, /./)
    refused(await answer(t.app, '/api/sessions/s-a/events', { headers: as(expired) }), 401, /./)
    refused(await answer(t.app, '/api/sessions/s-a/events', { headers: { authorization: 'Basic abc' } }), 401, /./)
    expect((await answer(t.app, '/health')).status).toBe(200)
  })

  it('403s a viewer that writes, and a token outside its sessions', async () => {
    expect((await answer(t.app, '/api/sessions/s-a/events', { headers: as(viewer) })).status).toBe(200)
    refused(await answer(t.app, '/api/sessions/s-a/events', json(turn('no'), as(viewer))), 403, /./)
    refused(await answer(t.app, '/api/sessions/s-a/fork', json({ id: 'vf', at: 1 }, as(viewer))), 403, /./)
    refused(await answer(t.app, '/api/sessions', json({ id: 'vs' }, as(viewer))), 403, /./)
    expect((await answer(t.app, '/api/sessions/s-a/events', { headers: as(onlyA) })).status).toBe(200)
    refused(await answer(t.app, '/api/sessions/s-b/events', { headers: as(onlyA) }), 403, /./)
    refused(await answer(t.app, '/api/sessions/s-b/events', json(turn('no'), as(onlyA))), 403, /./)
    refused(await answer(t.app, '/api/sessions/s-b/state', { headers: as(onlyA) }), 403, /./)
    refused(await answer(t.app, '/api/sessions/s-b/memories', { headers: as(onlyA) }), 403, /./)
  })

  it('checks the token before the body: a refused writer learns nothing about its input', async () => {
    refused(await answer(t.app, '/api/sessions/s-a/events', json('{not json', as(viewer))), 403, /./)
    refused(await answer(t.app, '/api/sessions/s-a/events', json('{not json')), 401, /./)
  })
})
