/**
 * Many subscriptions share their reads of what other processes commit (the hostile tester's
 * defect 9: 500 idle SSE streams each read the log on every wake-up and every poll). Two
 * stores on one PostgreSQL database stand for two instances; the reads of the first are
 * counted at its driver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readNotification } from '../src/store/carried.js'
import { createEventStore } from '../src/store/createEventStore.js'
import { canonicalJson } from '../src/store/hash.js'
import { toEnvelope } from '../src/store/rows.js'
import { notifyChannel, openDriver, openStore, type StoreConfig } from '../src/store/openStore.js'
import type { EventStore, SqlDriver, StoredEvent } from '../src/store/types.js'
import { postgresBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const actor = { id: 'w', name: 'W', kind: 'human' as const }

/**
 * Two instances on one fresh database: a writer store, and a reader store whose reads of the
 * log are counted at its driver. `close` stops both and drops the database.
 */
async function twoInstances(writerExtra: Partial<StoreConfig>, readerPollMs: number) {
  const created = await postgresBackend.create()
  const writer = await openStore({ ...created.config, ...writerExtra })
  const driver = await openDriver(created.config)
  const counts = { eventReads: 0 }
  const counting: SqlDriver = {
    ...driver,
    query(text, params) {
      if (/\bFROM events\b/.test(text)) counts.eventReads += 1
      return driver.query(text, params)
    },
  }
  const reader = await createEventStore(counting, { channel: notifyChannel(created.config.schema), pollMs: readerPollMs })
  return {
    writer, reader, counts,
    async close() {
      await reader.close()
      await writer.close()
      await created.drop()
    },
  }
}

describe.skipIf(!TEST_DATABASE_URL)('subscriptions of one instance and another instance\'s commits', () => {
  let writer: EventStore
  let reader: EventStore
  let instances: Awaited<ReturnType<typeof twoInstances>> | undefined
  const eventReads = () => instances!.counts.eventReads

  beforeAll(async () => {
    instances = await twoInstances({}, 200)
    ;({ writer, reader } = instances)
  })
  afterAll(async () => instances?.close())

  it('reads each commit once for 300 idle subscriptions, and delivers it to all of them', async () => {
    const seen = Array.from({ length: 300 }, () => 0)
    const subs = seen.map((_, i) => reader.subscribe({ session: `s${i % 10}` }, () => { seen[i] += 1 }))
    const before = eventReads()
    for (let n = 1; n <= 20; n++) {
      for (let s = 0; s < 10; s++) await writer.append(`s${s}`, [{ type: 'conversation.turn', data: { role: 'user', text: `t${n}` }, actor }])
      await until(() => seen.every((count) => count === n), { what: `300 subscriptions to get commit round ${n}` })
    }
    const reads = eventReads() - before
    console.log(`tail test: 200 commits from another instance reached 300 subscriptions with ${reads} reads of the log`)
    // Before: every subscription read on every wake-up and every poll — at least 300 × 20.
    // Now one reader per instance: a read per notification at most, and one per poll.
    expect(reads).toBeLessThan(400)
    await Promise.all(subs.map((sub) => sub.close()))
  })
})

describe.skipIf(!TEST_DATABASE_URL)('another instance\'s commits carried in their notifications', () => {
  let writer: EventStore
  let reader: EventStore
  let instances: Awaited<ReturnType<typeof twoInstances>> | undefined
  const eventReads = () => instances!.counts.eventReads

  beforeAll(async () => {
    // No poll within the test: every read would be one the notifications did not spare.
    instances = await twoInstances({ carryCommits: () => true }, 600_000)
    ;({ writer, reader } = instances)
  })
  afterAll(async () => instances?.close())

  const sameAsStored = async (seen: StoredEvent[]) => {
    const stored = await writer.readAll({ limit: 10_000 })
    expect(seen.map((e) => canonicalJson(toEnvelope(e)))).toEqual(stored.map((e) => canonicalJson(toEnvelope(e))))
  }

  it('takes them without reading the log, exactly as they are stored', async () => {
    const seen: StoredEvent[] = []
    const sub = reader.subscribe({}, (event) => { seen.push(event) })
    const before = eventReads()
    const update = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256)
    const writes: Promise<unknown>[] = []
    for (let n = 0; n < 60; n++) {
      // Group commit makes batches of several appends, some over one notification's 8,000 bytes.
      writes.push(writer.append(`s${n % 4}`, [
        { type: 'doc.update', data: { origin: 'w', changes: [{ kind: 'text', n }] }, payload: update, actor },
        { type: 'conversation.turn', data: { role: 'user', text: `tür "${n}"\n\u2028 ✓`, z: 1, a: [null, 2.5] }, actor, meta: { rationale: 'why' } },
      ]))
    }
    await Promise.all(writes)
    await until(() => seen.length === 120, { what: 'the reader to get 120 events' })
    expect(eventReads() - before).toBe(0)
    await sameAsStored(seen)
    expect(seen[0].payload).toEqual(update)
    await sub.close()
  })

  it('reads what is too long to carry, and still delivers in order', async () => {
    const seen: StoredEvent[] = []
    const sub = reader.subscribe({}, (event) => { seen.push(event) })
    await until(() => seen.length === 120, { what: 'the catch-up' })
    const before = eventReads()
    await writer.append('s0', [{ type: 'conversation.turn', data: { role: 'user', text: 'x'.repeat(9000) }, actor }])
    await writer.append('s1', [{ type: 'conversation.turn', data: { role: 'user', text: 'short' }, actor }])
    await until(() => seen.length === 122, { what: 'the reader to get the long event and the one after it' })
    expect(eventReads() - before).toBeGreaterThan(0)
    await sameAsStored(seen)
    await sub.close()
  })
})

describe('reading the log\'s notifications', () => {
  const body = '{"actor":{"id":"w"},"data":{"update":"AQID"},"id":"x","meta":{},"recordedAt":"t","session":"s","type":"doc.update","version":1}'
  const prev = '0'.repeat(64)
  const hash = createHash('sha256').update(prev).update(body).digest('hex')

  it('reads a head alone, carried events, and stops at a line whose hash is not its own', () => {
    expect(readNotification('42')).toEqual({ head: 42, events: [] })
    expect(readNotification('').head).toBeNaN()
    expect(readNotification('x1').head).toBeNaN()
    const tampered = body.replace('AQID', 'AQIE')
    const note = readNotification(`9 abc\n7\n1${hash}${prev}${body}\n0${hash}${prev}${body}\n1${hash}${prev}${tampered}\n1${hash}${prev}${body}`)
    expect(note.origin).toBe('abc')
    expect(note.events.map((e) => e.position)).toEqual([7, 8])
    expect(note.events[0].payload).toEqual(Uint8Array.of(1, 2, 3))
    expect(note.events[0].data).toEqual({})
    expect(note.events[1].payload).toBeUndefined()
    expect(note.events[1].data).toEqual({ update: 'AQID' })
    // This process's own: in memory already, not read.
    expect(readNotification(`9 abc\n7\n1${hash}${prev}${body}`, 'abc').events).toEqual([])
  })
})
