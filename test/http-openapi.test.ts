/**
 * The API description: /openapi.json is valid OpenAPI 3.1 and describes every route `mnemo serve`
 * mounts (the app is made of the server's own route list, `serverRoutes`: `/mcp` and the
 * inspector's page included, so a new route without `describeRoute` fails here), with its errors;
 * /docs serves the reference page and its assets from this server.
 */
import { Validator } from '@seriousme/openapi-schema-validator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from './fixtures/app.js'

type Operation = { summary?: string; responses: Record<string, { content?: Record<string, unknown> }> }
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> }

let t: TestApp
let doc: Document

beforeAll(async () => {
  t = await startTestApp({ secret: 'a-secret-of-at-least-32-characters-long!', served: true })
  const res = await t.app.request('/openapi.json')
  expect(res.status).toBe(200)
  doc = await res.json() as Document
})
afterAll(() => t.close())

/**
 * `/api/sessions/:id` → `/api/sessions/{id}`, as OpenAPI writes a path parameter (a pattern,
 * `:file{.+}`, is dropped). A bare wildcard (`/assets/*`) stays: hono-openapi leaves such a
 * route out of the document, so it shows here as mounted and not described.
 */
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g, '{$1}')

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, readable without a token', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./)
    const validator = new Validator()
    const result = await validator.validate(doc as never)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
  })

  it('describes every route `mnemo serve` mounts, with a summary and error responses', () => {
    const mounted = new Set(t.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`))
    expect(mounted.size).toBeGreaterThan(20)
    // The server's own list: the MCP endpoint and the inspector's page are in it.
    expect(mounted).toEqual(new Set([...mounted, 'post /mcp', 'get /mcp', 'delete /mcp', 'get /']))
    const described = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)))
    expect([...mounted].filter((r) => !described.has(r))).toEqual([])
    expect([...described].filter((r) => !mounted.has(r))).toEqual([])
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.summary, `${method} ${path}`).toBeTruthy()
        if (path.startsWith('/api/')) {
          const errors = Object.keys(op.responses).filter((s) => Number(s) >= 400)
          expect(errors, `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403', '429']))
        }
      }
    }
  })

  it('describes error bodies as { error: { code, message } } and SSE as text/event-stream', () => {
    const notFound = doc.paths['/api/sessions/{id}'].get.responses['404'] as { content: Record<string, { schema: { properties: Record<string, unknown> } }> }
    expect(Object.keys(notFound.content['application/json'].schema.properties)).toEqual(['error'])
    for (const path of ['/api/sessions/{id}/stream', '/api/stream', '/api/sessions/{id}/replay']) {
      expect(Object.keys(doc.paths[path].get.responses['200'].content ?? {})).toEqual(['text/event-stream'])
    }
  })

  it("describes the inspector's page as HTML and its assets by their media types, with their 404", () => {
    const page = doc.paths['/'].get.responses
    expect(Object.keys(page['200'].content ?? {})).toEqual(['text/html'])
    expect(Object.keys(page['503'].content ?? {})).toEqual(['application/json'])
    const asset = doc.paths['/assets/{file}'].get.responses
    expect(Object.keys(asset['200'].content ?? {})).toEqual(expect.arrayContaining(['text/javascript', 'text/css', 'image/svg+xml']))
    expect(Object.keys(asset)).toEqual(expect.arrayContaining(['404', '429']))
  })

  it('resolves request bodies from the zod schemas the routes validate with', () => {
    const create = doc.paths['/api/sessions'].post as unknown as { requestBody: { content: Record<string, { schema: { properties: Record<string, unknown>; additionalProperties?: boolean } }> } }
    const schema = create.requestBody.content['application/json'].schema
    expect(Object.keys(schema.properties).sort()).toEqual(['id', 'title'])
    expect(schema.additionalProperties).toBe(false)
  })
})

describe('GET /docs', () => {
  it('serves the reference page and its scripts from this server, without a token', async () => {
    const page = await t.app.request('/docs')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await page.text()
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1])
    expect(scripts).toEqual(['/docs/swagger-ui-bundle.js', '/docs/init.js'])
    expect(html).not.toMatch(/https?:\/\//)
    const bundle = await t.app.request(scripts[0])
    expect(bundle.status).toBe(200)
    expect(bundle.headers.get('content-type')).toMatch(/javascript/)
    expect((await bundle.text()).length).toBeGreaterThan(100_000)
    const init = await (await t.app.request(scripts[1])).text()
    expect(init).toContain("url: '/openapi.json'")
    const css = await t.app.request('/docs/swagger-ui.css')
    expect(css.headers.get('content-type')).toMatch(/^text\/css/)
  })

  it('answers 404 with the error body for a file it does not have', async () => {
    const res = await t.app.request('/docs/..%2Fpackage.json')
    expect(res.status).toBe(404)
    expect((await res.json() as { error: { code: string } }).error.code).toBe('not_found')
  })
})
