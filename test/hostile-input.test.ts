/**
 * Hostile defects 3, 4 and 11: what PostgreSQL cannot store (U+0000, lone surrogates), numbers
 * beyond a double's range and `__proto__` keys, at every door into the log. Each must be a
 * 400 naming the field (nothing stored), or stored exactly as sent — never a 500, never
 * silently changed.
 */
import canonicalizeModule from 'canonicalize'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_CASCADE_CONFIG } from '../src/memory/config.js'
import { createMemoryService } from '../src/memory/memoryService.js'
import { startTestApp, type TestApp } from './fixtures/app.js'

const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined
const post = (body: string): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body })

describe('unstorable input', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await startTestApp()
  })
  afterAll(() => t.close())

  async function send(path: string, body: string) {
    const response = await t.app.request(path, post(body))
    return { status: response.status, body: (await response.json()) as any }
  }

  // Raw JSON text: `\u0000` and `\ud800` as escapes, `1e400` as a literal JSON.parse turns into Infinity.
  const cases: [what: string, field: string, path: string, body: string][] = [
    ['U+0000 in meta.rationale', 'meta.rationale', '/api/sessions/u1/events', '{"type":"note.added","data":{},"meta":{"rationale":"a\\u0000b"}}'],
    ['a lone surrogate in meta.causationId', 'meta.causationId', '/api/sessions/u1/events', '{"type":"note.added","data":{},"meta":{"causationId":"\\ud800"}}'],
    ['U+0000 in meta.correlationId of a batch', 'events[1].meta.correlationId', '/api/sessions/u1/events', '{"events":[{"type":"note.added","data":{}},{"type":"note.added","data":{},"meta":{"correlationId":"\\u0000"}}]}'],
    ['U+0000 in a session title', 'title', '/api/sessions', '{"id":"u2","title":"\\u0000"}'],
    ['a lone surrogate in a fork title', 'title', '/api/sessions/u1/fork', '{"id":"u3","title":"x\\udc00"}'],
    ['U+0000 in a search query', 'query', '/api/sessions/u1/memories/search', '{"query":"mem\\u0000ory"}'],
    ['1e400 in data', 'data.n.big', '/api/sessions/u1/events', '{"type":"note.added","data":{"n":{"big":1e400}}}'],
    ['-1e400 in a batch', 'events[0].data.list[1]', '/api/sessions/u1/events', '{"events":[{"type":"note.added","data":{"list":[1,-1e400]}}]}'],
  ]

  it.each(cases)('%s → 400 naming %s, nothing stored', async (_what, field, path, body) => {
    await send('/api/sessions/u1/events', '{"type":"note.added","data":{}}')
    const before = await t.store.lastPosition()
    const result = await send(path, body)
    expect(result.status, JSON.stringify(result.body)).toBe(400)
    expect(result.body.error.message.startsWith(`${field}: `), result.body.error.message).toBe(true)
    expect(await t.store.lastPosition()).toBe(before)
  })

  it('U+0000 in an activity filter → 400 naming it', async () => {
    await send('/api/sessions/u1/events', '{"type":"note.added","data":{}}')
    for (const [query, field] of [['actor=%00', 'actor'], ['run=a%00b', 'run']] as const) {
      const response = await t.app.request(`/api/sessions/u1/activity?${query}`)
      const body = await response.json() as { error: { message: string } }
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(body.error.message).toMatch(new RegExp(`\\b${field}\\b`))
    }
  })

  it('a __proto__ key in data is stored as sent, hashed and verified', async () => {
    const text = '{"__proto__":{"polluted":true},"keep":1,"nested":{"__proto__":[1,2]}}'
    const result = await send('/api/sessions/p1/events', `{"type":"note.added","data":${text}}`)
    expect(result.status, JSON.stringify(result.body)).toBe(201)
    // Compared as canonical JSON: jsonb keeps keys in an order of its own.
    const page = await (await t.app.request('/api/sessions/p1/events?types=note.added')).text()
    const stored = JSON.parse(page).events[0].data
    expect(Object.keys(stored)).toContain('__proto__')
    expect(canonicalize(stored)).toBe(canonicalize(JSON.parse(text)))
    expect(({} as any).polluted).toBeUndefined()
    expect(await (await t.app.request('/api/sessions/p1/verify')).json()).toMatchObject({ ok: true })
  })

  it('a __proto__ key in a memory event is refused as an unknown field', async () => {
    const result = await send('/api/sessions/p1/events', '{"type":"memory.formed","data":{"memoryId":"m","content":"c","__proto__":{}}}')
    expect(result.status).toBe(400)
    expect(result.body.error.message).toMatch(/data\["?__proto__"?\]|data\.__proto__/)
  })

  it('appendClientEvents, the door the SDK and MCP reach, refuses the same in meta', async () => {
    const memory = createMemoryService({ store: t.store, cascade: DEFAULT_CASCADE_CONFIG })
    const actor = { id: 'a', name: 'A', kind: 'agent' as const }
    const outcome = await memory.appendClientEvents('u1', [{ type: 'note.added', data: {}, meta: { rationale: '\u0000' } }], { actor })
    expect(outcome).toMatchObject({ ok: false, reason: 'invalid', status: 400, message: expect.stringMatching(/^meta\.rationale: /) })
    const numbers = await memory.appendClientEvents('u1', [{ type: 'note.added', data: { x: Infinity } }], { actor })
    expect(numbers).toMatchObject({ ok: false, status: 400, message: expect.stringMatching(/^data\.x: must be a finite number/) })
  })

})
