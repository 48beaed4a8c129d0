/**
 * Request headers are read from the Node request when the app is served (src/http/headers.ts),
 * without building the web Request's `Headers`: as `c.req.header()` gives them, whatever
 * their case, and from the web Request where there is no Node request (`app.request()`).
 */
import { request } from 'node:http'
import type { Context } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { header } from '../src/http/headers.js'
import { startTestServer, type TestServer } from './fixtures/server.js'

describe('header()', () => {
  it('reads the Node request, not the web one, joining repeated values as Headers.get does', () => {
    const c = {
      env: { incoming: { headers: { 'content-type': 'application/json', 'x-list': ['a', 'b'] } } },
      req: { header: () => { throw new Error('the web request was read') } },
    } as unknown as Context
    expect(header(c, 'Content-Type')).toBe('application/json')
    expect(header(c, 'x-list')).toBe('a, b')
    expect(header(c, 'authorization')).toBeUndefined()
  })

  it('reads the web request where there is no Node request', () => {
    const c = { env: undefined, req: { header: (name: string) => (name === 'accept' ? 'text/plain' : undefined) } } as unknown as Context
    expect(header(c, 'accept')).toBe('text/plain')
  })
})

describe('headers over a served request', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(async () => server.stop())

  /** A POST sent as written: header names in the case given here. */
  const post = (path: string, body: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }))
      })
      req.on('error', reject)
      req.end(body)
    })

  const turn = JSON.stringify({ type: 'conversation.turn', data: { role: 'user', content: 'hello' } })

  it('takes the identity and the media type in any case', async () => {
    const stored = await post('/api/sessions/h1/events', turn, { 'CONTENT-TYPE': 'Application/JSON; charset=utf-8', 'X-MNEMO-ID': 'carol', 'x-Mnemo-Name': 'Carol' })
    expect(stored.status).toBe(201)
    const read = await fetch(`${server.url}/api/sessions/h1/events`).then((r) => r.json())
    expect(read.events.at(-1).actor).toEqual({ id: 'carol', name: 'Carol', kind: 'human' })
  })

  it('refuses a body that is not JSON by its Content-Type, naming it', async () => {
    const refused = await post('/api/sessions/h1/events', turn, { 'Content-Type': 'text/plain' })
    expect(refused.body.error.code).toBe('unsupported_media_type')
  })
})
