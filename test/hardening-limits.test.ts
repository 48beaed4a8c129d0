/**
 * The server's limits, each set small through its environment variable: message size (1009),
 * a flooding connection (dropped, then 4429) beside a polite one, a burst that is dropped and
 * then recovered by resync, connections per session, document size (4413), a stalled reader
 * (1013), the HTTP request rate (429 + Retry-After) and chunked bodies over the body limit.
 * Each refusal by a limit is counted in `/metrics` (`mnemo_refusals_total`) by door and reason.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeUpdate } from '../src/protocol/messages.js'
import { select } from '../src/session/write.js'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { closeOf, freshUpdate, peer, rawClient, sessionLog, type Peer, type RawClient } from './fixtures/clients.js'
import { refusals } from './fixtures/metrics.js'
import { until } from './fixtures/until.js'

const backend = backends.at(-1)!

describe('limits', () => {
  let server: TestServer
  let ws: string
  const peers: Peer[] = []
  const raws: RawClient[] = []
  beforeAll(async () => {
    server = await startTestServer(backend, {
      MNEMO_MAX_MESSAGE_BYTES: '65536',
      MNEMO_RATE_UPDATES_PER_SEC: '50',
      MNEMO_RATE_BURST: '20',
      MNEMO_MAX_CONNECTIONS_PER_SESSION: '3',
      MNEMO_MAX_DOC_BYTES: '32768',
      MNEMO_RATE_HTTP_PER_SEC: '5',
      MNEMO_RATE_HTTP_BURST: '10',
      MNEMO_MAX_BODY_BYTES: '2048',
    })
    ws = server.url.replace('http', 'ws') + '/sync'
  })
  afterAll(async () => {
    for (const p of peers) p.destroy()
    for (const r of raws) r.ws.terminate()
    await server.stop()
  })

  const raw = async (session: string, id: string): Promise<RawClient> => {
    const client = await rawClient(`${ws}/${session}?id=${id}`)
    raws.push(client)
    await client.greeted
    return client
  }
  const join = (session: string, id: string): Peer => {
    const p = peer(ws, session, { id, name: id })
    peers.push(p)
    return p
  }

  it('closes a message over MNEMO_MAX_MESSAGE_BYTES with 1009, and one in too many fragments with 1008', async () => {
    const big = await raw('size', 'big')
    big.ws.send(new Uint8Array(65_537))
    expect((await big.closed).code).toBe(1009)
    const shredded = await raw('size', 'shredded')
    for (let i = 0; i < 1100; i++) shredded.ws.send(new Uint8Array(1), { fin: false, binary: true })
    expect((await shredded.closed).code).toBe(1008)
  })

  it('rate-limits a flooding connection (4429) while a polite one in the same session gets every edit through', async () => {
    const polite = join('flood', 'polite')
    const observer = join('flood', 'observer')
    await Promise.all([polite.synced(), observer.synced()])
    const flooder = await raw('flood', 'flooder')
    for (let i = 0; i < 500; i++) flooder.ws.send(encodeUpdate(freshUpdate(`f${i}`)))
    for (let i = 0; i < 30; i++) {
      select(polite.doc, `p${i}`, 'polite')
      await new Promise((resolve) => setTimeout(resolve, 25)) // 40 a second, under the 50 allowed
    }
    expect((await flooder.closed).code).toBe(4429)
    // Counted before the close went out: the drops, then the close once more than twice the burst (20) was dropped.
    const counted = await refusals(server.url)
    expect(counted['sync/flood'], JSON.stringify(counted)).toBe(1)
    expect(counted['sync/rate'], JSON.stringify(counted)).toBeGreaterThanOrEqual(2 * 20)
    await until(() => observer.doc.getMap('selections').has('p29'), { what: 'the observer to see the last polite edit' })
    const log = await sessionLog(server.store, 'flood')
    const keys = (actor: string) => log.filter((e) => e.type === 'doc.update' && e.actor.id === actor)
      .flatMap((e) => (e.data as { changes: { key: string }[] }).changes.map((c) => c.key))
    expect(new Set(keys('polite'))).toEqual(new Set(Array.from({ length: 30 }, (_, i) => `p${i}`)))
    expect(polite.closes).toEqual([])
    // The burst went through; the rest was dropped, never stored.
    expect(keys('flooder').length).toBeGreaterThanOrEqual(20)
    expect(keys('flooder').length).toBeLessThan(40)
  })

  it('drops a burst over the rate without losing it: the server resyncs, and the client re-sends what was dropped', async () => {
    const burst = join('burst', 'burster')
    const observer = join('burst', 'watcher')
    await Promise.all([burst.synced(), observer.synced()])
    const before = await refusals(server.url)
    for (let i = 0; i < 30; i++) select(burst.doc, `b${i}`, 'burster') // 30 messages at once, 20 allowed
    await until(() => observer.doc.getMap('selections').size === 30, { what: 'all 30 selections to reach the observer' })
    expect(burst.closes).toEqual([])
    // The drops are counted as such; no connection was closed for them.
    const after = await refusals(server.url)
    expect(after['sync/rate']! - (before['sync/rate'] ?? 0), JSON.stringify({ before, after })).toBeGreaterThan(0)
    expect(after['sync/flood'], JSON.stringify(after)).toBe(before['sync/flood'])
    expect(server.rooms.docOf('burst')!.getMap('selections').size).toBe(30)
  })

  it('refuses (4429) a connection beyond MNEMO_MAX_CONNECTIONS_PER_SESSION; other sessions are unaffected', async () => {
    const three = await Promise.all(['c1', 'c2', 'c3'].map((id) => raw('full', id)))
    const fourth = await closeOf(`${ws}/full?id=c4`)
    expect(fourth).toEqual({ code: 4429, reason: expect.stringMatching(/session full/) })
    expect((await refusals(server.url))['sync/connection_cap']).toBe(1)
    expect(await (await raw('not-full', 'c4')).handled()).toBe(true)
    three[0]!.ws.close()
    await until(() => server.rooms.loadedRooms().find((r) => r.session === 'full')!.connections === 2, { what: 'a place to free up' })
    expect(await (await raw('full', 'c5')).handled()).toBe(true)
  })

  it('refuses (4413) an update that would grow the document past MNEMO_MAX_DOC_BYTES, and stores nothing of it', async () => {
    const writer = join('big', 'writer')
    await writer.synced()
    select(writer.doc, 'small', 'writer')
    await until(() => server.rooms.docOf('big')?.getMap('selections').has('small') === true, { what: 'the small edit' })
    const hog = await raw('big', 'hog')
    hog.ws.send(encodeUpdate(freshUpdate('huge', 40_000)))
    const closed = await hog.closed
    expect(closed.code).toBe(4413)
    expect(closed.reason).toMatch(/MNEMO_MAX_DOC_BYTES/)
    // Up to the limit is fine: two 12 KB updates fit in 32 KiB, a third does not.
    const filler = await raw('big', 'filler')
    filler.ws.send(encodeUpdate(freshUpdate('fill-1', 12_000)))
    filler.ws.send(encodeUpdate(freshUpdate('fill-2', 12_000)))
    expect(await filler.handled()).toBe(true)
    filler.ws.send(encodeUpdate(freshUpdate('fill-3', 12_000)))
    expect((await filler.closed).code).toBe(4413)
    await server.rooms.idle()
    const doc = server.rooms.docOf('big')!
    expect([...doc.getMap('selections').keys()].sort()).toEqual(['fill-1', 'fill-2', 'small'])
    expect(Y.encodeStateAsUpdate(doc).length).toBeLessThanOrEqual(32_768)
    const actors = (await sessionLog(server.store, 'big')).filter((e) => e.type === 'doc.update').map((e) => e.actor.id)
    expect(actors).toEqual(['writer', 'filler', 'filler'])
  })

  it('answers 429 with Retry-After past MNEMO_RATE_HTTP_PER_SEC for one identity, not for another', async () => {
    // All at once: the limit is checked before any work, so 10 (the burst) pass and the rest wait.
    const responses = await Promise.all(Array.from({ length: 20 }, () =>
      call(server.url, 'GET', '/api/sessions', undefined, { 'x-mnemo-id': 'eager' })))
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 200).length, statuses.join()).toBeGreaterThanOrEqual(10)
    const limited = responses.find((r) => r.status === 429)
    expect(limited, statuses.join()).toBeDefined()
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(limited!.body.error.code).toBe('rate_limited')
    // Each 429 counted by its reason (`/metrics` itself is public: its bucket is the address's).
    const counted = await refusals(server.url)
    expect(counted['http/rate'], JSON.stringify(counted)).toBe(statuses.filter((s) => s === 429).length)
    expect(Object.keys(counted).filter((key) => key.startsWith('http/'))).toEqual(['http/rate'])
    expect((await call(server.url, 'GET', '/api/sessions', undefined, { 'x-mnemo-id': 'patient' })).status).toBe(200)
  })

  it('refuses a chunked body (no Content-Length) over MNEMO_MAX_BODY_BYTES with 413, whether or not the route reads it', async () => {
    // The last two never read a body: no route, and a GET (which @hono/node-server refuses to give one: 400).
    for (const [method, path, expected] of [
      ['POST', '/api/sessions/chunky/events', 413], ['POST', '/api/sessions', 413], ['POST', '/nowhere', 413], ['GET', '/api/sessions', 400],
    ] as const) {
      expect(await chunked(server.url, method, path, 5, 1000), `${method} ${path}`).toBe(expected)
    }
    expect(await chunked(server.url, 'POST', '/api/sessions/chunky/events', 1, 100)).toBe(201) // under the limit: read as usual
  })

  it('reads a body that arrives in pieces (a character split between them), and shrugs off one that never ends', async () => {
    const body = Buffer.from(JSON.stringify({ type: 'conversation.turn', data: { role: 'user', content: 'grüße ✓' } }))
    const split = body.indexOf(Buffer.from('ü')) + 1 // between the two bytes of ü
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/api/sessions/pieces/events`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-mnemo-id': 'pieces' },
      }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      req.write(body.subarray(0, split))
      // The rest once the first piece is surely read: a timer here would only guess.
      setImmediate(() => req.end(body.subarray(split)))
    })
    expect(status).toBe(201)
    const [turn] = (await sessionLog(server.store, 'pieces')).filter((e) => e.type === 'conversation.turn')
    expect(turn.data.content).toBe('grüße ✓')

    // Half a body, then the client goes away: nothing is stored, the server goes on answering.
    await new Promise<void>((resolve) => {
      const req = request(`${server.url}/api/sessions/pieces/events`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-mnemo-id': 'quitter' },
      })
      req.on('error', () => resolve())
      req.write(body.subarray(0, split), () => setImmediate(() => req.destroy()))
      req.on('close', () => resolve())
    })
    expect((await call(server.url, 'GET', '/api/sessions/pieces/events', undefined, { 'x-mnemo-id': 'after' })).status).toBe(200)
    expect((await sessionLog(server.store, 'pieces')).filter((e) => e.type === 'conversation.turn')).toHaveLength(1)
  })
})

describe('a reader that stops reading', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(backend, { MNEMO_MAX_BUFFERED_BYTES: '65536' })
  })
  afterAll(async () => server.stop())

  it('is closed with 1013 once MNEMO_MAX_BUFFERED_BYTES waits for it; the writer is unaffected', async () => {
    const ws = server.url.replace('http', 'ws') + '/sync'
    const reader = await rawClient(`${ws}/slow?id=reader`)
    await reader.greeted
    const socket = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
    socket.pause() // the kernel's buffers fill, then the server's
    const writer = await rawClient(`${ws}/slow?id=writer`)
    await writer.greeted
    // Its flood must not wait in the 64 KiB it may send before its participant.joined is stored.
    await until(async () => (await sessionLog(server.store, 'slow')).some((e) => e.type === 'participant.joined' && e.actor.id === 'writer'), { what: 'the writer to have joined' })
    // 60 updates of 200 KB: far more than loopback socket buffers hold.
    for (let i = 0; i < 60; i++) writer.ws.send(encodeUpdate(freshUpdate(`w${i}`, 200_000)))
    expect(await writer.handled()).toBe(true)
    await until(() => server.rooms.loadedRooms().find((r) => r.session === 'slow')?.connections === 1, { what: 'the reader to be dropped' })
    socket.resume()
    expect((await reader.closed).code).toBe(1013)
    await server.rooms.idle()
    const stored = new Y.Doc()
    for (const e of await sessionLog(server.store, 'slow')) if (e.type === 'doc.update') Y.applyUpdate(stored, e.payload!)
    expect(stored.getMap('selections').size).toBe(60)
    writer.ws.close()
  })
})

/** Sends `chunks` × `size` bytes with Transfer-Encoding: chunked; resolves with the status. */
function chunked(base: string, method: string, path: string, chunks: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { 'content-type': 'application/json', 'x-mnemo-id': `chunky-${path}` } }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on('error', (error) => (error as NodeJS.ErrnoException).code === 'ECONNRESET' || (error as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(error))
    req.write('{"type":"conversation.turn","data":{"role":"user","content":"')
    for (let i = 0; i < chunks; i++) req.write('x'.repeat(size))
    req.end('"}}')
  })
}

describe('shutting down', () => {
  it('closes connected clients with 1012 rather than waiting for them to leave', async () => {
    const server = await startTestServer(backend)
    const client = await rawClient(`${server.url.replace('http', 'ws')}/sync/bye?id=stayer`)
    await client.greeted
    await server.stop()
    expect(await client.closed).toEqual({ code: 1012, reason: 'server shutting down, reconnect' })
  })
})
