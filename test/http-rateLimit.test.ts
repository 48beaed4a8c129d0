/** The HTTP rate limit over `app.request()`, with a stepped clock: 429 and `Retry-After`, per caller. */
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { createErrorHandler } from '../src/http/errors.js'
import { rateLimit } from '../src/http/middleware/rateLimit.js'
import type { Logger } from '../src/log.js'

function appAt(clock: { now: number }) {
  const app = new Hono()
  app.onError(createErrorHandler({ error() {} } as unknown as Logger))
  app.use(rateLimit({ perSec: 1, burst: 2, keyOf: (c) => c.req.header('x-caller') ?? 'anon', clock: () => clock.now }))
  app.get('/', (c) => c.text('ok'))
  return app
}

describe('rateLimit middleware', () => {
  it('answers 429 with Retry-After over the burst, and again once the bucket refilled', async () => {
    const clock = { now: 0 }
    const app = appAt(clock)
    expect((await app.request('/')).status).toBe(200)
    expect((await app.request('/')).status).toBe(200)
    const refused = await app.request('/')
    expect(refused.status).toBe(429)
    expect(refused.headers.get('Retry-After')).toBe('1')
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limited')
    clock.now = 1000
    expect((await app.request('/')).status).toBe(200)
  })

  it('keeps one bucket per caller', async () => {
    const app = appAt({ now: 0 })
    for (let i = 0; i < 3; i++) await app.request('/', { headers: { 'x-caller': 'a' } })
    expect((await app.request('/', { headers: { 'x-caller': 'a' } })).status).toBe(429)
    expect((await app.request('/', { headers: { 'x-caller': 'b' } })).status).toBe(200)
  })
})
