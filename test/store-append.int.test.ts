/**
 * The one-round-trip append (migrations/0004's mnemo_append, pipelined on the writer lane):
 * the database's hash chain is the one of hash.ts, a batch costs one statement, appends keep
 * the order they were made in, and several writer instances keep one gap-free chained log.
 * Run against PGlite and (when configured) a real PostgreSQL.
 */
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createEventStore } from '../src/store/createEventStore.js'
import { chainHash } from '../src/store/hash.js'
import { notifyChannel, openDriver, openStore } from '../src/store/openStore.js'
import { toEnvelope } from '../src/store/rows.js'
import type { Actor, EventStore, NewEvent, SqlDriver, SqlExecutor, StoredEvent } from '../src/store/types.js'
import { backends, freshStore, postgresBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const bob: Actor = { id: 'bob', name: 'Bob', kind: 'agent', model: 'm-1', onBehalfOf: 'alice' }
const note = (n: number, extra: Partial<NewEvent> = {}): NewEvent => ({ type: 'test.note', data: { n }, actor: bob, ...extra })


/** Counts what a store sends to its driver. */
function countingDriver(inner: SqlDriver) {
  const counts = { query: 0, inOrder: 0, transaction: 0 }
  const driver: SqlDriver = {
    ...inner,
    kind: inner.kind,
    exec: inner.exec,
    listen: inner.listen,
    close: inner.close,
    query(text, params) {
      counts.query += 1
      return inner.query(text, params)
    },
    queryInOrder(text, params) {
      counts.inOrder += 1
      return inner.queryInOrder(text, params)
    },
    transaction(fn) {
      counts.transaction += 1
      return inner.transaction(fn)
    },
  }
  return { driver, counts }
}

/** Every stored event's hash re-computed in JavaScript, and the chain links. */
function expectChained(events: StoredEvent[]): void {
  for (const [i, event] of events.entries()) {
    const { position, hash, prevHash, ...fields } = toEnvelope(event)
    expect(chainHash(prevHash, fields), `hash of version ${event.version}`).toBe(hash)
    if (i > 0) expect(prevHash).toBe(events[i - 1].hash)
  }
}

describe.each(backends)('one-round-trip append on $name', (backend) => {
  let store: EventStore
  let close: () => Promise<void>
  let config: Awaited<ReturnType<typeof freshStore>>['config']

  beforeEach(async () => {
    ;({ store, close, config } = await freshStore(backend))
  })
  afterEach(async () => close())

  it('chains in the database exactly as hash.ts does, for content that canonical JSON escapes or reorders', async () => {
    const tricky: NewEvent[] = [
      note(0, { data: { text: 'quote " backslash \\ slash / newline \n tab \t bell \u0007 unit \u001f del \u007f' } }),
      note(1, { data: { emoji: '😀 e\u0301 日本語 \u2028 \u2029', ['ключ']: 1, é: 2, e: 3, '😀': 4, Z: 5, a: 6 } }),
      note(2, { data: { numbers: [0, -0, 1e21, 1e-7, 0.1, 123456789012345, -1.5, 2 ** 53 - 1], nested: { b: [{ y: 1, x: null }], a: true } } }),
      note(3, { data: {}, meta: { causationId: randomUUID(), correlationId: 'c-1', rationale: 'why "not"' } }),
      { type: 'doc.update', data: { bytes: 4, changes: [{ path: 'x', key: 'k' }] }, payload: new Uint8Array([0, 255, 10, 13]), actor: bob },
    ]
    const result = await store.append('s1', tricky)
    expect(result).toMatchObject({ ok: true, version: 5 })
    const events = await store.read('s1')
    expect(events.map((e) => e.data)).toEqual([
      tricky[0].data, tricky[1].data, { ...tricky[2].data, numbers: [0, 0, 1e21, 1e-7, 0.1, 123456789012345, -1.5, 2 ** 53 - 1] },
      {}, tricky[4].data,
    ])
    expect(events[4].payload).toEqual(new Uint8Array([0, 255, 10, 13]))
    expect(events[1].actor).toEqual(bob)
    expectChained(events)
    expect(await store.verify('s1')).toEqual({ ok: true, checked: 5 })
  })

  it('writes a batch of appends without hooks in one statement, and no transaction', async () => {
    const { driver, counts } = countingDriver(await openDriver(config))
    const own = await createEventStore(driver, { channel: notifyChannel(config.schema) })
    try {
      const before = { ...counts }
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => own.append(`s${i % 4}`, [note(i)])))
      expect(results.every((r) => r.ok)).toBe(true)
      expect(counts.inOrder - before.inOrder).toBe(1)
      expect(counts.transaction - before.transaction).toBe(0)
      expect(counts.query - before.query).toBe(0)
    } finally {
      await own.close()
    }
  })

  it('runs hooks only for batches holding their types, with the events as stored', async () => {
    const seen: StoredEvent[] = []
    const hook = Object.assign(async (_tx: SqlExecutor, events: StoredEvent[]) => {
      seen.push(...events)
    }, { types: ['memory.formed'] })
    const own = await freshStore(backend, { hooks: [hook] })
    try {
      await own.store.append('s1', [note(1)])
      expect(seen).toEqual([])
      await own.store.append('s1', [{ type: 'memory.formed', data: { memoryId: 'm1' }, actor: bob }])
      const stored = await own.store.read('s1')
      expect(seen).toHaveLength(1)
      expect({ ...seen[0], payload: undefined }).toEqual({ ...stored[1], payload: undefined })
    } finally {
      await own.close()
    }
  })

  it('keeps the order appends were made in: a pipelined chain of expectedVersions all succeeds', async () => {
    await store.append('s1', [note(0)])
    const results: Promise<unknown>[] = []
    // Spread over several ticks, so the appends fill several batches in flight at once.
    for (let v = 1; v <= 40; v++) {
      results.push(store.append('s1', [note(v)], { expectedVersion: v }))
      if (v % 5 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const settled = await Promise.all(results)
    expect(settled.filter((r) => !(r as { ok: boolean }).ok)).toEqual([])
    const events = await store.read('s1')
    expect(events.map((e) => e.data.n)).toEqual(Array.from({ length: 41 }, (_, i) => i))
    expect(events.map((e) => e.position)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1))
  })

  it('judges appends of one batch on the session as the batch leaves it', async () => {
    const created = { type: 'session.created', data: {}, actor: bob }
    const [a, b, c] = await Promise.all([
      store.append('s1', [note(1)], { expectedVersion: 0, ifNew: [created] }),
      store.append('s1', [note(2)], { expectedVersion: 0, ifNew: [created] }),
      store.append('s1', [note(3)], { ifNew: [created] }),
    ])
    expect(a).toMatchObject({ ok: true, version: 2, events: [{ version: 2, position: 2 }] })
    expect(b).toEqual({ ok: false, reason: 'version_conflict', expected: 0, actual: 2 })
    expect(c).toMatchObject({ ok: true, version: 3, events: [{ version: 3, position: 3 }] })
    expect((await store.read('s1')).map((e) => e.type)).toEqual(['session.created', 'test.note', 'test.note'])
  })

  it('recognises a retry made while the first attempt is still queued or in flight', async () => {
    const ids = [randomUUID(), randomUUID()]
    const events = ids.map((id, i) => note(i, { id }))
    const [first, again, third] = await Promise.all([
      store.append('s1', events),
      store.append('s1', events),
      store.append('s1', [note(9)]),
    ])
    expect(first).toMatchObject({ ok: true, duplicate: false, version: 2 })
    if (!first.ok) return
    expect(again).toMatchObject({ ok: true, duplicate: true, events: first.events })
    expect(third).toMatchObject({ ok: true })
    expect(await store.read('s1')).toHaveLength(3)
    const partly = await store.append('s1', [note(0, { id: ids[0] }), note(5)])
    expect(partly).toMatchObject({ ok: false, reason: 'id_conflict' })
    const twice = randomUUID()
    expect(await store.append('s1', [note(1, { id: twice }), note(2, { id: twice })])).toEqual({
      ok: false, reason: 'id_conflict', message: 'the same event id appears twice in one append',
    })
    expect(await store.append('s2', events)).toMatchObject({ ok: false, reason: 'id_conflict' })
  })

  it('rejects an unsealable append alone, sparing the rest of its batch', async () => {
    const [bad, good] = await Promise.allSettled([
      store.append('s1', [{ type: 'doc.update', data: { update: 'x' }, payload: new Uint8Array([1]), actor: bob }]),
      store.append('s2', [note(1)]),
    ])
    expect(bad.status).toBe('rejected')
    expect(good).toMatchObject({ status: 'fulfilled', value: { ok: true } })
  })

  it.skipIf(backend.name === 'pglite')('works with a pool of one connection: appends, hooks and reads do not starve each other', async () => {
    const hook = Object.assign(async (tx: SqlExecutor) => {
      await tx.query('SELECT 1')
    }, { types: ['memory.formed'] })
    const small = await openStore({ ...config, poolSize: 1, hooks: [hook] })
    try {
      expect(await small.append('p1', [note(1)])).toMatchObject({ ok: true }) // the writer's statements have a connection
      const results = await Promise.all([
        small.read('p1'),
        small.append('p1', [{ type: 'memory.formed', data: { memoryId: 'm' }, actor: bob }]),
        small.append('p2', [note(2)]),
        small.head('p1'),
      ])
      expect(results).toHaveLength(4)
      expect(await small.append('p2', [note(3)])).toMatchObject({ ok: true })
      expect((await small.read('p1')).map((e) => e.version)).toEqual([1, 2])
      expect(await small.verify('p1')).toMatchObject({ ok: true })
    } finally {
      await small.close()
    }
  })

  it('the same append from several instances at once is written once; the others are told it is a duplicate', async () => {
    // mnemo_append checks for known ids before it takes the log's lock (migrations/0006): an id
    // committed by another instance in between fails the batch on the primary key, and the
    // retry of each append alone finds it.
    const instances = backend.name === 'postgres' ? [store, await openStore(config), await openStore(config)] : [store]
    try {
      for (let round = 0; round < 20; round++) {
        const events = [note(round, { id: randomUUID() }), note(round, { id: randomUUID() })]
        const bystander = note(100 + round)
        const results = await Promise.all(instances.flatMap((s) => [s.append('race', events), s.append(`by-${round}`, [bystander])]))
        const racers = results.filter((_, i) => i % 2 === 0)
        expect(racers.every((r) => r.ok)).toBe(true)
        expect(racers.filter((r) => r.ok && !r.duplicate)).toHaveLength(1)
        const firstEvents = racers.find((r) => r.ok && !r.duplicate)!
        for (const r of racers) if (r.ok) expect(r.events.map((e) => e.position)).toEqual(firstEvents.ok ? firstEvents.events.map((e) => e.position) : [])
        expect(results.filter((_, i) => i % 2 === 1).every((r) => r.ok && !r.duplicate)).toBe(true)
      }
      const race = await store.read('race', { limit: 1000 })
      expect(race.map((e) => e.version)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      expectChained(race)
    } finally {
      for (const other of instances.slice(1)) await other.close()
    }
  })

  it('several writer instances, many writers each: one gap-free log, every chain valid, readers never skip', async () => {
    const instances = backend.name === 'postgres' ? [store, await openStore(config), await openStore(config)] : [store]
    const seen = instances.map(() => [] as number[])
    const subs = instances.map((s, i) => s.subscribe({}, (e) => {
      seen[i].push(e.position)
    }))
    try {
      const WRITERS = 16
      const APPENDS = 12
      await Promise.all(instances.flatMap((s, i) => Array.from({ length: WRITERS }, async (_, w) => {
        for (let k = 0; k < APPENDS; k++) {
          // Shared sessions (contended heads) and one of the writer's own.
          const session = k % 2 === 0 ? `shared-${w % 3}` : `own-${i}-${w}`
          const result = await s.append(session, [note(k), note(k)])
          expect(result.ok).toBe(true)
        }
      })))
      const total = instances.length * WRITERS * APPENDS * 2
      const all = await store.readAll({ limit: 10_000 })
      expect(all.map((e) => e.position)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      expect(await store.lastPosition()).toBe(total)
      for (const head of await store.listSessions()) {
        const events = await store.read(head.id, { limit: 10_000 })
        expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1))
        expect(head.hash).toBe(events.at(-1)!.hash)
        expectChained(events)
      }
      await until(() => seen.every((s) => s.length >= total), { what: 'every subscriber to see the whole log' })
      for (const positions of seen) expect(positions).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    } finally {
      await Promise.all(subs.map((s) => s.close()))
      for (const other of instances.slice(1)) await other.close()
    }
  })
})

/**
 * A batch with hooks is a transaction on the writer lane, and the batches behind it follow on
 * the same connection once its COMMIT or ROLLBACK is sent: none of them may run inside it.
 */
describe.skipIf(!TEST_DATABASE_URL)('hook transactions on the writer lane', () => {
  const turn = (n: number): NewEvent => ({ type: 'conversation.turn', data: { role: 'user', content: `t${n}` }, actor: bob })
  const formed = (n: number): NewEvent => ({ type: 'memory.formed', data: { memoryId: `m${n}` }, actor: bob })

  it('keeps the appends made while it is open out of it: a hook that fails rolls back only its own batch', async () => {
    let open!: () => void
    const opened = new Promise<void>((resolve) => { open = resolve })
    let refuse!: (error: Error) => void
    const refused = new Promise<never>((_, reject) => { refuse = reject })
    refused.catch(() => {})
    let calls = 0
    const hook = Object.assign(async (tx: SqlExecutor) => {
      calls += 1
      if (calls > 1) return
      await tx.query('SELECT 1')
      open()
      await refused
    }, { types: ['memory.formed'] })
    const { store, close } = await freshStore(postgresBackend, { hooks: [hook] })
    try {
      const failing = store.append('s', [formed(1)])
      await opened
      // Queued while the transaction holds the lane; sent once its ROLLBACK is.
      const after = [store.append('s', [turn(1)]), store.append('t', [turn(2)]), store.append('s', [turn(3)])]
      refuse(new Error('hook refused'))
      await expect(failing).rejects.toThrow('hook refused')
      const results = await Promise.all(after)
      expect(results.every((r) => r.ok)).toBe(true)
      const log = await store.readAll()
      expect(log.map((e) => e.type)).toEqual(['conversation.turn', 'conversation.turn', 'conversation.turn'])
      expect(log.map((e) => e.position)).toEqual([1, 2, 3])
      // Written, and read back, after the rollback: the lane is in autocommit again.
      expect((await store.append('s', [formed(2)])).ok).toBe(true)
      expect((await store.read('s')).map((e) => e.type)).toEqual(['conversation.turn', 'conversation.turn', 'memory.formed'])
    } finally {
      await close()
    }
  })

  it('loses nothing acknowledged when its connection is killed while it is open', async () => {
    let lanePid!: (pid: number) => void
    const opened = new Promise<number>((resolve) => { lanePid = resolve })
    let resume!: () => void
    const resumed = new Promise<void>((resolve) => { resume = resolve })
    let calls = 0
    const hook = Object.assign(async (tx: SqlExecutor) => {
      calls += 1
      if (calls > 1) return
      const [{ pid }] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
      lanePid(pid)
      await resumed
      await tx.query('SELECT 1') // on the killed connection: fails, the transaction is gone
    }, { types: ['memory.formed'] })
    const { store, close, config } = await freshStore(postgresBackend, { hooks: [hook] })
    const admin = await openDriver({ ...config, poolSize: 2 })
    try {
      const first = store.append('s', [formed(1)])
      const pid = await opened
      const behind = store.append('s', [turn(1)])
      await admin.query('SELECT pg_terminate_backend($1::int)', [pid])
      resume()
      // The killed transaction's append fails (its caller sends it again); the one behind it
      // goes out on a new lane, and what was answered is what the log holds.
      await expect(first).rejects.toThrow()
      const answered = await behind
      expect(answered.ok).toBe(true)
      const log = await store.read('s')
      expect(log.map((e) => e.type)).toEqual(['conversation.turn'])
      expect(answered.ok && answered.events[0].position).toBe(log[0].position)
      // Sent again, as a caller would: written once.
      expect((await store.append('s', [formed(1)])).ok).toBe(true)
      expect((await store.read('s')).map((e) => e.type)).toEqual(['conversation.turn', 'memory.formed'])
    } finally {
      await admin.close()
      await close()
    }
  })
})
