/** The event store's contract, run against PGlite and (when configured) a real PostgreSQL. */
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chainHash, GENESIS_HASH } from '../src/store/hash.js'
import { migrate } from '../src/store/migrate.js'
import { openDriver, openStore } from '../src/store/openStore.js'
import { toEnvelope } from '../src/store/rows.js'
import type { Actor, EventStore, NewEvent, StoredEvent } from '../src/store/types.js'
import { backends, freshStore } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const alice: Actor = { id: 'alice', name: 'Alice', kind: 'human' }
const note = (n: number, extra: Partial<NewEvent> = {}): NewEvent => ({
  type: 'test.note', data: { n }, actor: alice, ...extra,
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.each(backends)('event store on $name', (backend) => {
  let store: EventStore
  let close: () => Promise<void>
  let config: Awaited<ReturnType<typeof freshStore>>['config']

  beforeEach(async () => {
    ;({ store, close, config } = await freshStore(backend))
  })
  afterEach(async () => close())

  it('appends, reads back and chains hashes as the SPEC defines them', async () => {
    const result = await store.append('s1', [note(1), note(2, { meta: { rationale: 'because' } })])
    expect(result).toMatchObject({ ok: true, duplicate: false, version: 2 })
    const events = await store.read('s1')
    expect(events.map((e) => [e.version, e.position, e.type])).toEqual([[1, 1, 'test.note'], [2, 2, 'test.note']])
    expect(events[0].prevHash).toBe(GENESIS_HASH)
    expect(events[1].prevHash).toBe(events[0].hash)
    expect(events[1].meta).toEqual({ causationId: null, correlationId: null, rationale: 'because' })
    const { position, hash, prevHash, ...fields } = toEnvelope(events[1])
    expect(chainHash(prevHash, fields)).toBe(hash)
    expect(await store.verify('s1')).toEqual({ ok: true, checked: 2 })
  })

  it('keeps binary payloads in bytea and shows them as base64 data.update', async () => {
    const payload = new Uint8Array([0, 1, 2, 250, 255])
    await store.append('s1', [{ type: 'doc.update', data: { bytes: 5, changes: [] }, payload, actor: alice }])
    const [event] = await store.read('s1')
    expect(event.payload).toEqual(payload)
    expect(event.data).toEqual({ bytes: 5, changes: [] })
    expect(toEnvelope(event).data.update).toBe(Buffer.from(payload).toString('base64'))
    expect((await store.verify('s1')).ok).toBe(true)
  })

  it('is idempotent by event id', async () => {
    const id = randomUUID()
    const first = await store.append('s1', [note(1, { id })])
    const again = await store.append('s1', [note(1, { id })])
    expect(again).toEqual({ ...first, duplicate: true })
    expect(await store.read('s1')).toHaveLength(1)
    const elsewhere = await store.append('s2', [note(1, { id })])
    expect(elsewhere).toMatchObject({ ok: false, reason: 'id_conflict' })
  })

  it('lets exactly one of N concurrent writers with the same expectedVersion win', async () => {
    await store.append('s1', [note(0)])
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.append('s1', [note(i)], { expectedVersion: 1 })),
    )
    expect(results.filter((r) => r.ok)).toHaveLength(1)
    expect(results.filter((r) => !r.ok)).toEqual(
      Array(11).fill({ ok: false, reason: 'version_conflict', expected: 1, actual: 2 }),
    )
    expect(await store.append('s2', [note(1)], { expectedVersion: 0 })).toMatchObject({ ok: true })
    expect(await store.append('s2', [note(1)], { expectedVersion: 0 })).toMatchObject({ reason: 'version_conflict' })
  })

  it('keeps versions contiguous and positions gap-free under concurrent appends', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`s${i % 3}`, [note(i), note(i)])))
    for (const s of ['s0', 's1', 's2']) {
      const versions = (await store.read(s)).map((e) => e.version)
      expect(versions).toEqual(versions.map((_, i) => i + 1))
    }
    const positions = (await store.readAll({ limit: 1000 })).map((e) => e.position)
    expect(positions).toEqual(positions.map((_, i) => i + 1))
    expect(await store.lastPosition()).toBe(100)
  })

  it('writes a batch atomically: one bad event writes nothing, and spares concurrent appends', async () => {
    const bad = note(2, { data: { text: 'nul \u0000 byte' } })
    const [good, failed] = await Promise.allSettled([
      store.append('s2', [note(1)]),
      store.append('s1', [note(1), bad, note(3)]),
    ])
    expect(good.status).toBe('fulfilled')
    expect(failed.status).toBe('rejected')
    expect(await store.read('s1')).toEqual([])
    expect(await store.read('s2')).toHaveLength(1)
  })

  it('writes ifNew events only for a new session', async () => {
    const created = { type: 'session.created', data: {}, actor: alice }
    const first = await store.append('s1', [note(1)], { ifNew: [created], expectedVersion: 0 })
    expect(first).toMatchObject({ ok: true, version: 2, events: [{ version: 2 }] })
    await store.append('s1', [note(2)], { ifNew: [created] })
    expect((await store.read('s1')).map((e) => e.type)).toEqual(['session.created', 'test.note', 'test.note'])
  })

  it('refuses UPDATE, DELETE and TRUNCATE on events in the database itself', async () => {
    await store.append('s1', [note(1)])
    await expect(store.driver.query(`UPDATE events SET type = 'x'`)).rejects.toThrow(/append-only/)
    await expect(store.driver.query('DELETE FROM events')).rejects.toThrow(/append-only/)
    await expect(store.driver.query('TRUNCATE events')).rejects.toThrow(/append-only/)
  })

  it('verify names the first tampered version', async () => {
    await store.append('s1', [note(1), note(2), note(3)])
    await store.driver.exec(`ALTER TABLE events DISABLE TRIGGER events_append_only;
      UPDATE events SET data = '{"n": 99}' WHERE session_id = 's1' AND version = 2;
      ALTER TABLE events ENABLE TRIGGER events_append_only;`)
    expect(await store.verify('s1')).toMatchObject({ ok: false, firstBad: 2 })
  })

  it('filters by exact type and by prefix pattern', async () => {
    await store.append('s1', [
      { type: 'memory.formed', data: {}, actor: alice },
      { type: 'conversation.turn', data: {}, actor: alice },
      { type: 'memoryx.y', data: {}, actor: alice },
      { type: 'memory.connected', data: {}, actor: alice },
    ])
    const types = async (t: string[]) => (await store.read('s1', { types: t })).map((e) => e.type)
    expect(await types(['memory.*'])).toEqual(['memory.formed', 'memory.connected'])
    expect(await types(['memory.*', 'conversation.turn'])).toHaveLength(3)
    expect(await types(['memoryx.y'])).toEqual(['memoryx.y'])
  })

  it('subscribe catches up, goes live, and never skips or repeats under 6 concurrent writers', async () => {
    await store.append('s0', [note(-1)])
    const seen: StoredEvent[] = []
    const sub = store.subscribe({ after: 0 }, (e) => {
      seen.push(e)
    })
    const perWriter = 60
    await Promise.all(Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; i < perWriter; i += 3) {
        await store.append(`s${w}`, [note(i), note(i + 1), note(i + 2)])
      }
    }))
    const total = 1 + 6 * perWriter
    await until(() => seen.length >= total, { what: `${total} events delivered` })
    await sub.close()
    expect(seen.map((e) => e.position)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
  })

  it('a slow transaction holds later writers back, so readers never see a later position first', async () => {
    // On PostgreSQL a second store on the same database plays a second server instance;
    // embedded PGlite has one process only, so the slow writer is the same store there.
    let slow = true
    let inside!: () => void
    const entered = new Promise<void>((resolve) => (inside = resolve))
    const hooks = [async () => {
      if (!slow) return
      inside()
      await sleep(400) // a slow transaction
    }]
    const own = backend.name === 'postgres' ? undefined : await freshStore(backend, { hooks })
    const reader = own?.store ?? store
    const other = own?.store ?? await openStore({ ...config, hooks })
    const seen: number[] = []
    const sub = reader.subscribe({}, (e) => {
      seen.push(e.position)
    })
    try {
      const a = other.append('s1', [note(1)])
      await entered // A is inside its transaction, holding the log head
      const b = reader.append('s2', [note(2)])
      const [ra, rb] = await Promise.all([a, b])
      slow = false
      expect(ra.ok && rb.ok).toBe(true)
      if (ra.ok && rb.ok) expect(ra.events[0].position).toBeLessThan(rb.events[0].position)
      await until(() => seen.length >= 2, { what: 'both events delivered' })
      expect(seen).toEqual([1, 2])
    } finally {
      await sub.close()
      if (other !== reader) await other.close()
      await own?.close()
    }
  })

  it('stores and finds snapshots at or before a position', async () => {
    await store.saveSnapshot({ session: 's1', version: 5, position: 10, state: new Uint8Array([1]) })
    await store.saveSnapshot({ session: 's1', version: 9, position: 20, state: new Uint8Array([2]) })
    expect((await store.loadSnapshot('s1'))?.state).toEqual(new Uint8Array([2]))
    expect((await store.loadSnapshot('s1', 15))?.version).toBe(5)
    expect(await store.loadSnapshot('s1', 5)).toBeUndefined()
  })

  it('reads a session\'s head and newest snapshot in one call, the snapshot in parts too', async () => {
    expect(await store.headAndSnapshot('nobody')).toEqual({ head: undefined, snapshot: undefined })
    await store.append('s1', [note(1), note(2)])
    const plain = await store.headAndSnapshot('s1')
    expect(plain.head).toEqual(await store.head('s1'))
    expect(plain.snapshot).toBeUndefined()
    await store.saveSnapshot({ session: 's1', version: 1, position: 1, state: new Uint8Array([1]) })
    const big = Uint8Array.from({ length: 200_000 }, (_, i) => i % 251) // in parts (64 KiB each)
    await store.saveSnapshot({ session: 's1', version: 2, position: 2, state: big })
    const both = await store.headAndSnapshot('s1')
    expect(both.head).toEqual(await store.head('s1'))
    expect(both.snapshot).toEqual(await store.loadSnapshot('s1'))
    expect(new Uint8Array(both.snapshot!.state)).toEqual(big)
    // A snapshot for a session with no events (an import's, say) comes without a head.
    await store.saveSnapshot({ session: 'bare', version: 0, position: 2, state: new Uint8Array([7]) })
    expect(await store.headAndSnapshot('bare')).toMatchObject({ head: undefined, snapshot: { position: 2, version: 0 } })
  })

  it.skipIf(backend.name === 'pglite')('applies migrations once, even when two instances migrate at the same time', async () => {
    const [d1, d2] = await Promise.all([openDriver(config), openDriver(config)])
    try {
      const [a, b] = await Promise.all([migrate(d1), migrate(d2)])
      expect([...a, ...b]).toEqual([]) // the store already migrated this database
      const rows = await d1.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations')
      expect(rows[0].n).toBeGreaterThanOrEqual(2)
    } finally {
      await d1.close()
      await d2.close()
    }
  })
})
