/**
 * The SDK's HTTP queue with a scripted fetch: requests go one at a time in order; idempotent
 * ones are resent after any failure, the others only when nothing can have reached the
 * server; 429/503 wait and retry; other statuses become MnemoErrors with the server's words.
 */
import { describe, expect, it } from 'vitest'
import { MnemoError } from '../src/agent/errors.js'
import { until } from './fixtures/until.js'
import { createHttpClient } from '../src/agent/http.js'

type Step = Response | Error

const netError = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) })
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

function scripted(steps: Step[]) {
  const calls: Array<{ url: string; method: string; body: string | undefined; headers: Record<string, string> }> = []
  let active = 0
  let maxActive = 0
  const fakeFetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, method: String(init.method), body: init.body as string | undefined, headers: init.headers as Record<string, string> })
    active += 1
    maxActive = Math.max(maxActive, active)
    await new Promise((r) => setTimeout(r, 1))
    active -= 1
    const step = steps.shift()
    if (step === undefined) throw new Error('no more scripted answers')
    if (step instanceof Error) throw step
    return step
  }) as unknown as typeof globalThis.fetch
  const client = createHttpClient({
    baseUrl: 'http://mnemo.test/', identity: { headers: { 'x-mnemo-run': 'r-1' }, query: {} }, fetch: fakeFetch, retry: { initialDelayMs: 1, maxDelayMs: 5 },
  })
  return { client, calls, maxActive: () => maxActive }
}

const post = (what: string, idempotent: boolean) => ({ method: 'POST' as const, path: '/api/sessions/s/events', body: { what }, idempotent, what })

describe('the SDK\'s HTTP queue', () => {
  it('sends one request at a time, in order, with the run header', async () => {
    const { client, calls, maxActive } = scripted([json(201, { n: 1 }), json(201, { n: 2 }), json(201, { n: 3 })])
    const answers = await Promise.all(['a', 'b', 'c'].map((w) => client.request(post(w, true))))
    expect(answers).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(calls.map((c) => JSON.parse(c.body!).what)).toEqual(['a', 'b', 'c'])
    expect(calls[0]!.headers['x-mnemo-run']).toBe('r-1')
    expect(calls[0]!.url).toBe('http://mnemo.test/api/sessions/s/events')
    expect(maxActive()).toBe(1)
  })

  it('resends an idempotent request after any failure, the same body each time', async () => {
    const { client, calls } = scripted([netError('ECONNRESET'), netError('ECONNREFUSED'), json(503, {}, { 'retry-after': '0' }), json(502, {}), json(201, { ok: 1 })])
    expect(await client.request(post('x', true))).toEqual({ ok: 1 })
    expect(new Set(calls.map((c) => c.body)).size).toBe(1)
    expect(calls).toHaveLength(5)
  })

  it('resends a request that is not idempotent only when it cannot have arrived', async () => {
    const refused = scripted([netError('ECONNREFUSED'), json(429, {}, { 'retry-after': '0' }), json(201, { ok: 1 })])
    expect(await refused.client.request(post('cascade', false))).toEqual({ ok: 1 })
    const reset = scripted([netError('ECONNRESET')])
    const error = await reset.client.request(post('cascade', false)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MnemoError)
    expect(error).toMatchObject({ status: 0, code: 'network' })
    expect(reset.calls).toHaveLength(1)
  })

  it('turns an error answer into a MnemoError with the server\'s code and message, and goes on', async () => {
    const { client } = scripted([json(400, { error: { code: 'invalid_event_data', message: 'data.importance: must be at most 1' } }), json(201, { ok: 1 })])
    const failed = client.request(post('bad', true)).catch((e: unknown) => e)
    const next = client.request(post('good', true))
    expect(await failed).toMatchObject({ status: 400, code: 'invalid_event_data', message: expect.stringContaining('must be at most 1') })
    expect(await next).toEqual({ ok: 1 })
  })

  it('rejects what is queued with `closed` when closed', async () => {
    const { client, calls } = scripted([netError('ECONNREFUSED'), netError('ECONNREFUSED'), netError('ECONNREFUSED'), netError('ECONNREFUSED')])
    const first = client.request(post('a', true)).catch((e: unknown) => e)
    const second = client.request(post('b', true)).catch((e: unknown) => e)
    await until(() => calls.length > 0, { what: 'the first attempt' })
    client.close()
    expect(await first).toMatchObject({ code: 'closed' })
    expect(await second).toMatchObject({ code: 'closed' })
    await expect(client.request(post('c', true))).rejects.toMatchObject({ code: 'closed' })
    await client.flush()
  })
})
