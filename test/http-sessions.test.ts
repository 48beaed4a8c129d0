/**
 * Reads of one session that does not exist: `404 session_not_found` on every route, without
 * a server — Hono's `app.request()` over the real store on PGlite's in-memory database. The
 * live stream is the one read that may be opened before its session exists.
 */
import type { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from './fixtures/app.js'

let test: TestApp
let app: Hono

beforeAll(async () => {
  test = await startTestApp()
  app = test.app
  const created = await app.request('/api/sessions', { method: 'POST', body: JSON.stringify({ id: 'known' }), headers: { 'content-type': 'application/json' } })
  expect(created.status).toBe(201)
}, 180_000) // starting PGlite (WebAssembly) is slow on a busy machine
afterAll(async () => test.close())

const reads = [
  '/api/sessions/missing',
  '/api/sessions/missing/events',
  '/api/sessions/missing/events?after=5&types=memory.*',
  '/api/sessions/missing/state',
  '/api/sessions/missing/state?at=3',
  '/api/sessions/missing/memories',
  '/api/sessions/missing/context',
  '/api/sessions/missing/context?format=md',
  '/api/sessions/missing/verify',
  '/api/sessions/missing/export',
  '/api/sessions/missing/replay',
]

describe('reads of an unknown session', () => {
  it.each(reads)('GET %s → 404 session_not_found', async (path) => {
    const res = await app.request(path)
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: { code: 'session_not_found', message: expect.stringContaining('"missing"') } })
  })

  it('answers the same for a search, a cascade and a fork of it', async () => {
    const post = (path: string, body: unknown) =>
      app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    for (const res of [
      await post('/api/sessions/missing/memories/search', { query: 'x' }),
      await post('/api/sessions/missing/cascades', { memoryId: 'm1' }),
      await post('/api/sessions/missing/fork', { id: 'child' }),
    ]) {
      expect(res.status).toBe(404)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('session_not_found')
    }
  })

  it('reads a known session as usual, an empty page past its end included', async () => {
    expect((await app.request('/api/sessions/known')).status).toBe(200)
    const page = await app.request('/api/sessions/known/events?after=1000')
    expect(page.status).toBe(200)
    expect(await page.json()).toEqual({ events: [], next: null })
    expect((await app.request('/api/sessions/known/verify')).status).toBe(200)
  })

  it('opens the live stream of a session that does not exist yet', async () => {
    const controller = new AbortController()
    const res = await app.request('/api/sessions/later/stream', { signal: controller.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    controller.abort()
    await res.body?.cancel().catch(() => {})
  })
})
