/**
 * Fuzzing at scale, in process: 100,000+ hostile sync frames (mutated valid y-websocket
 * messages as well as random bytes, fixtures/frames.ts) fed straight to a room manager through
 * stand-in sockets, and a property-based fuzz of every HTTP route of the app with random
 * paths, queries and JSON bodies (Unicode edge cases, huge numbers, deep nesting). Nothing may
 * crash or close a connection with 1011, nothing the fuzzers send may be stored as an edit,
 * and no HTTP response may be a 5xx. (hardening-fuzz.test.ts throws frames over real sockets.)
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openIdentity, type Role } from '../src/auth/identity.js'
import { createRoomManager, type RoomManager } from '../src/collab/createRoomManager.js'
import { decodeMessage, encodeSyncStep1, encodeUpdate } from '../src/protocol/messages.js'
import { select } from '../src/session/write.js'
import type { EventStore } from '../src/store/types.js'
import { startTestApp, type TestApp } from './fixtures/app.js'
import { anyBackend, freshStore } from './fixtures/db.js'
import { createFrameGenerator, type Category } from './fixtures/frames.js'
import { FakeSocket } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

const SESSION = 'fuzzed-in-process'
const VIEWER_FRAMES = 70_000
const EDITOR_FRAMES = 35_000
const SOCKETS = 8

describe('100,000 hostile sync frames, in process', () => {
  let store: EventStore
  let close: () => Promise<void>
  let rooms: RoomManager

  beforeAll(async () => {
    ;({ store, close } = await freshStore(anyBackend))
    rooms = createRoomManager({ store, config: { graceMs: 60_000, updatesPerSec: 0 } })
  })
  afterAll(async () => {
    await rooms.close()
    await close()
  })

  it(`takes ${(VIEWER_FRAMES + EDITOR_FRAMES).toLocaleString('en')} frames without a crash, storing none of them`, async () => {
    const closes = new Map<number, number>()
    const categories = new Map<Category, number>()
    let sent = 0
    let skippedWellFormed = 0

    /** Throws `frames` frames through sockets of one role, replacing each socket the server closes. */
    async function fuzz(role: Role, frames: number, seed: number): Promise<void> {
      const generators = Array.from({ length: SOCKETS }, (_, i) => createFrameGenerator(seed + i, 1024 * 1024))
      const open = (i: number): FakeSocket => {
        const socket = new FakeSocket(() => {})
        const identity = { ...openIdentity({ id: `fuzz-${role}-${i}`, name: `Fuzz ${i}`, kind: 'agent' }), role }
        rooms.attach(socket as never, SESSION, identity)
        return socket
      }
      const sockets = generators.map((_, i) => open(i))
      let thrown = 0
      while (thrown < frames) {
        for (let i = 0; i < SOCKETS && thrown < frames; i++) {
          if (sockets[i]!.readyState !== 1) {
            const code = sockets[i]!.closedWith?.code ?? 0
            closes.set(code, (closes.get(code) ?? 0) + 1)
            sockets[i] = open(i)
          }
          const frame = generators[i]!.next()
          if (role !== 'viewer' && typeof frame.data !== 'string' && isWellFormedUpdate(frame.data)) {
            skippedWellFormed += 1 // from an editor, that is an edit, not bad input
            continue
          }
          if (typeof frame.data === 'string') sockets[i]!.emit('message', Buffer.from(frame.data), false)
          else sockets[i]!.deliver(frame.data)
          thrown += 1
          sent += 1
          categories.set(frame.category, (categories.get(frame.category) ?? 0) + 1)
        }
        // Let the rooms work through what arrived before more comes (as a socket's reads would).
        if (thrown % 2_000 < SOCKETS) await rooms.idle()
      }
      await rooms.idle()
      for (const socket of sockets) socket.close(1000)
    }

    await fuzz('viewer', VIEWER_FRAMES, 0x7a1)
    await fuzz('editor', EDITOR_FRAMES, 0x7a2)
    expect(sent).toBeGreaterThanOrEqual(100_000)
    console.log(`in-process fuzz: ${sent} frames (${skippedWellFormed} well-formed updates not sent by editors); ` +
      `categories ${JSON.stringify(Object.fromEntries(categories))}; server closes ${JSON.stringify(Object.fromEntries(closes))}`)
    expect(closes.get(1011) ?? 0).toBe(0)

    // The room still works: a polite editor's edit is stored and applied.
    const polite = new FakeSocket()
    rooms.attach(polite as never, SESSION, { ...openIdentity({ id: 'polite', name: 'Polite', kind: 'human' }), role: 'editor' })
    const doc = new Y.Doc()
    polite.deliver(encodeSyncStep1(Y.encodeStateVector(doc)))
    const before = Y.encodeStateVector(doc)
    select(doc, 'after-the-storm', 'polite')
    polite.deliver(encodeUpdate(Y.encodeStateAsUpdate(doc, before)))
    await until(() => rooms.docOf(SESSION)?.getMap('selections').has('after-the-storm') === true, { what: 'the polite edit to apply' })
    await rooms.idle()

    const log = await store.read(SESSION, { limit: 10_000 })
    const fromFuzzers = log.filter((e) => e.actor.id.startsWith('fuzz-'))
    for (const type of new Set(fromFuzzers.map((e) => e.type))) expect(['participant.joined', 'participant.left']).toContain(type)
    expect(new Set(log.filter((e) => e.type === 'doc.update').map((e) => e.actor.id))).toEqual(new Set(['polite']))
  }, 240_000)
})

/**
 * `text` percent-encoded for a path, a lone surrogate as the bytes UTF-8 would give it
 * (%ED%A0%80: not valid UTF-8, which is the point) where encodeURIComponent would throw.
 */
function pathPart(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    const pair = unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    if (pair) {
      out += encodeURIComponent(text.slice(i, i + 2))
      i += 1
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
    } else {
      out += encodeURIComponent(text[i]!)
    }
  }
  return out
}

/** Whether the server's decoder takes `frame` as a document update. */
function isWellFormedUpdate(frame: Uint8Array): boolean {
  try {
    const message = decodeMessage(frame)
    return message.kind === 'update' || message.kind === 'sync-step2'
  } catch {
    return false
  }
}

describe('every HTTP route under random input', () => {
  let t: TestApp
  let routes: { method: string; path: string }[]

  beforeAll(async () => {
    t = await startTestApp()
    routes = t.app.routes.filter((r) => r.method !== 'ALL')
    // A session to hit with valid ids too.
    await t.app.request('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'real' }) })
  })
  afterAll(async () => t.close())

  // Strings with every kind of edge: lone surrogates, NUL, control characters, astral planes.
  const nasty = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom('', 'real', '..', '%00', '\u0000', '\uD800', '\uFFFF', 'a'.repeat(300), '__proto__', 'constructor', '1e400', '-1', '9007199254740993'),
  )
  const huge = fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -(2 ** 63), 1e-320)
  const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' },
      nasty, huge, fc.double(), fc.integer(), fc.boolean(), fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(nasty, fc.constantFrom('type', 'data', 'id', 'events', 'meta', 'query', 'memoryId', 'title', 'at', 'expectedVersion')), tie('value'), { maxKeys: 5 })),
  })).value
  // Raw bodies beside JSON: deep nesting, numbers out of range, broken JSON.
  const rawBody = fc.oneof(
    json.map((v) => JSON.stringify(v) ?? 'null'),
    fc.integer({ min: 1, max: 3000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
    fc.constantFrom('{"type":"x.y","data":{"n":1e400}}', '{"events":[{"type":"a.b","data":{}}]', '\u0000', '', '{"__proto__":{"x":1}}'),
  )
  const query = fc.dictionary(fc.constantFrom('after', 'limit', 'types', 'at', 'time', 'from', 'to', 'speed', 'format', 'actor'), nasty, { maxKeys: 4 })

  it('answers every request below 500', async () => {
    const failures: string[] = []
    let requests = 0
    await fc.assert(fc.asyncProperty(
      fc.nat(), fc.oneof(nasty, fc.constant('real')), nasty, query, rawBody, fc.boolean(),
      async (pick, id, pid, params, body, asJson) => {
        const route = routes[pick % routes.length]!
        const path = route.path.replace(':id', pathPart(id)).replace(/:[a-z]+/g, pathPart(pid))
        const search = new URLSearchParams(params as Record<string, string>).toString()
        const init: RequestInit = { method: route.method, headers: asJson ? { 'content-type': 'application/json' } : {} }
        if (route.method !== 'GET') init.body = body
        const controller = new AbortController()
        init.signal = controller.signal
        const response = await t.app.request(path + (search ? `?${search}` : ''), init)
        requests += 1
        if (response.status >= 500) failures.push(`${route.method} ${path}?${search} ${body.slice(0, 80)} → ${response.status} ${await response.text()}`)
        else await response.body?.cancel() // SSE answers stream on: stop reading
        controller.abort()
      },
    ), { numRuns: 4000 })
    console.log(`HTTP fuzz: ${requests} requests over ${routes.length} routes, ${failures.length} answered ≥ 500`)
    expect(failures).toEqual([])
  }, 240_000)
})
