/**
 * Hostile defect 9, in part: one identity could open 500 idle SSE streams. Live streams are
 * capped per identity (`MNEMO_MAX_STREAMS_PER_IDENTITY`) with a 429, and a closed stream
 * gives its slot back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgliteBackend } from './fixtures/db.js'
import { refusals } from './fixtures/metrics.js'
import { startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

describe('streams per identity', () => {
  let server: TestServer
  const open: AbortController[] = []
  beforeAll(async () => {
    server = await startTestServer(pgliteBackend, { MNEMO_MAX_STREAMS_PER_IDENTITY: '2' })
  })
  afterAll(async () => {
    for (const c of open) c.abort()
    await server.stop()
  })

  async function stream(id: string, path = '/api/sessions/st1/stream') {
    const controller = new AbortController()
    const response = await fetch(`${server.url}${path}`, { headers: { 'x-mnemo-id': id }, signal: controller.signal })
    if (response.ok) open.push(controller)
    return { response, controller }
  }

  it('the third stream of one identity is refused with 429; others are not; closing one frees its slot', async () => {
    expect((await stream('hog')).response.status).toBe(200)
    const second = await stream('hog', '/api/stream')
    expect(second.response.status).toBe(200)
    const third = await stream('hog')
    expect(third.response.status).toBe(429)
    expect(third.response.headers.get('retry-after')).toBe('5')
    expect(((await third.response.json()) as any).error.code).toBe('too_many_streams')
    expect((await refusals(server.url))['http/stream_limit']).toBe(1)
    expect((await stream('someone-else')).response.status).toBe(200)

    second.controller.abort()
    await until(async () => {
      const again = await stream('hog')
      return again.response.status === 200
    }, { what: 'the closed stream to free its slot' })
  })
})
