/** The inspector page over plain HTTP: the HTML, its assets' types and caching, the CSP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './fixtures/server.js'

describe('GET / (the inspector page)', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: 'inspector-http-secret-0123456789abcdef' })
  })
  afterAll(() => server?.stop())

  it('serves the page and its assets without a token, with their content types', async () => {
    const page = await fetch(`${server.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('cache-control')).toBe('no-cache')
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'")
    const html = await page.text()
    expect(html).toContain('<div id="app">')
    const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    const style = /<link rel="stylesheet" crossorigin href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1]
    expect(script).toBeDefined()
    expect(style).toBeDefined()
    expect(html).not.toMatch(/<script>(?!<\/script>)/) // no inline script: the CSP would refuse it

    const js = await fetch(server.url + script!)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect((await js.text()).length).toBeGreaterThan(1000)
    const css = await fetch(server.url + style!)
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8')
  })

  it('answers an unknown asset with a JSON 404, and the API still needs a token', async () => {
    const missing = await fetch(`${server.url}/assets/nope.js`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found')
    expect((await fetch(`${server.url}/api/sessions`)).status).toBe(401)
  })
})
