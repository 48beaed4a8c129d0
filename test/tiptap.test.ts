/// <reference lib="dom" />
/**
 * Tiptap in a real Chromium (Debian's, through playwright-core) against the real server: two
 * pages, each a Tiptap editor (StarterKit, Collaboration on the session's `richText` fragment,
 * CollaborationCaret) connected through `@hocuspocus/provider`, type at once beside a Node
 * y-websocket client of the same session; all three converge, every edit is stored and
 * attributed, and the caret's colour crosses the server under the stamped identity.
 * The page (test/fixtures/tiptap/editor.ts) is bundled by esbuild in memory when the file starts
 * and served from a small HTTP server of the test's own.
 */
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import * as esbuild from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { mintToken } from '../src/auth/tokens.js'
import { peer, type Peer } from './fixtures/clients.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) console.warn(`test/tiptap.test.ts: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`)

const SECRET = 'tiptap-secret-0123456789abcdef-0123456789abcdef'
const HTML = '<!doctype html><meta charset="utf-8"><div id="editor"></div><script src="/editor.js"></script>'

/**
 * Serves the page on 127.0.0.1 (port 0), as an app's own web server would: Chromium lets a
 * page open a WebSocket to a loopback address only from a loopback origin.
 */
async function servePage(script: string): Promise<{ url: string; close(): Promise<void> }> {
  const pages = createServer((req, res) => {
    const isScript = req.url === '/editor.js'
    res.writeHead(200, { 'content-type': isScript ? 'text/javascript' : 'text/html' })
    res.end(isScript ? script : HTML)
  })
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve))
  const { port } = pages.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => {
      pages.closeAllConnections()
      pages.close(() => resolve())
    }),
  }
}

/**
 * The editor page as one script, bundled the way an app would bundle it. With esbuild (Vite's
 * own bundler of dependencies): 0.3 s where `vite build` takes 9 s for the same page.
 */
async function bundleEditor(): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL('./fixtures/tiptap/editor.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2022',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

interface PageState {
  settled: boolean
  fragment: string
  html: string
  carets: { name: string; color: string }[]
}

describe.skipIf(!hasChromium)('Tiptap editors in Chromium through the Hocuspocus provider', () => {
  let browser: Browser
  let server: TestServer
  let pages: Awaited<ReturnType<typeof servePage>>
  const peers: Peer[] = []

  beforeAll(async () => {
    ;[browser, server, pages] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true }),
      startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET }),
      bundleEditor().then(servePage),
    ])
  })
  afterAll(async () => {
    for (const p of peers) p.destroy()
    await browser?.close()
    await Promise.all([server?.stop(), pages?.close()])
  })

  async function editorPage(session: string, sub: string, user: { name: string; color: string }): Promise<Page> {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => errors.push(m.text()))
    await page.goto(pages.url)
    const token = await mintToken(SECRET, { sub, name: sub.toUpperCase(), kind: 'human', role: 'editor' })
    await page.evaluate(
      (options) => (window as unknown as { startTiptap(o: unknown): void }).startTiptap(options),
      { url: `${server.url.replace('http', 'ws')}/hocuspocus`, session, token, user },
    )
    let debug: unknown
    await until(async () => {
      debug = await page.evaluate('window.tiptapDebug?.()')
      return (await state(page)).settled
    }, { what: `${sub}'s editor to settle`, explain: () => ({ errors, debug }) })
    return page
  }

  const state = (page: Page): Promise<PageState> => page.evaluate(() => {
    const t = (window as unknown as { tiptapTest: { settled(): boolean; fragment(): string; html(): string; carets(): PageState['carets'] } }).tiptapTest
    return { settled: t.settled(), fragment: t.fragment(), html: t.html(), carets: t.carets() }
  })

  it('two editors typing at once and a y-websocket client converge, each edit stored under its author', async () => {
    const session = 'tiptap'
    const [ada, bob] = await Promise.all([
      editorPage(session, 'ada', { name: 'Ada (claimed by the page)', color: '#f783ac' }),
      editorPage(session, 'bob', { name: 'Bob', color: '#958df1' }),
    ])
    const carolToken = await mintToken(SECRET, { sub: 'carol', name: 'CAROL', kind: 'human', role: 'editor' })
    const carol = peer(`${server.url.replace('http', 'ws')}/sync`, session, { token: carolToken })
    peers.push(carol)
    await carol.synced()

    // Both type into the same (first) paragraph at once, real key presses.
    await Promise.all([ada.locator('.ProseMirror').click(), bob.locator('.ProseMirror').click()])
    await Promise.all([
      ada.keyboard.type('Hello from Ada. ', { delay: 5 }),
      bob.keyboard.type('Bob was here. ', { delay: 5 }),
    ])
    // And the Node client adds a paragraph of its own, as a Tiptap document holds it.
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText('Carol from Node')])
    const fragment = carol.doc.getXmlFragment('richText')
    fragment.insert(fragment.length, [paragraph])

    await until(async () => {
      const [a, b] = await Promise.all([state(ada), state(bob)])
      const node = fragment.toString()
      return a.settled && b.settled && a.fragment === node && b.fragment === node
    }, { what: 'the three documents to converge', explain: async () => [await state(ada), await state(bob), fragment.toString()] })
    const text = fragment.toString()
    expect(text).toContain('Hello from Ada.')
    expect(text).toContain('Bob was here.')
    expect(text).toContain('<paragraph>Carol from Node</paragraph>')
    expect((await state(ada)).html).toContain('Carol from Node')

    // Stored before anyone saw it, each under its token's identity.
    await server.rooms.idle()
    const admin = await mintToken(SECRET, { sub: 'root', name: 'root', kind: 'human', role: 'admin' })
    const events = (await call(server.url, 'GET', `/api/sessions/${session}/events?types=doc.update&limit=1000`, undefined, { authorization: `Bearer ${admin}` })).body.events as { actor: { id: string } }[]
    expect(new Set(events.map((e) => e.actor.id))).toEqual(new Set(['ada', 'bob', 'carol']))

    // The caret's colour crosses the server; its name and id are the token's, not the page's claim.
    const adaSeen = () => [...carol.provider.awareness.getStates().values()].find((s) => s.user?.id === 'ada')
    await until(() => adaSeen()?.user?.color === '#f783ac', { what: 'ada\'s caret colour at carol', explain: () => adaSeen() })
    expect(adaSeen()!.user).toEqual({ id: 'ada', name: 'ADA', kind: 'human', color: '#f783ac' })
    await until(async () => (await state(bob)).carets.some((c) => c.name === 'ADA'), { what: 'ada\'s caret in bob\'s editor', explain: async () => (await state(bob)).carets })
    expect((await state(bob)).carets.find((c) => c.name === 'ADA')!.color).toBe('rgb(247, 131, 172)')
  })
})
