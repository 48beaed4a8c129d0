/**
 * Many subscriptions share their reads of what other processes commit (the hostile tester's
 * defect 9: 500 idle SSE streams each read the log on every wake-up and every poll). Two
 * stores on one PostgreSQL database stand for two instances; the reads of the first are
 * counted at its driver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEventStore } from '../src/store/createEventStore.js'
import { notifyChannel, openDriver, openStore } from '../src/store/openStore.js'
import type { EventStore, SqlDriver } from '../src/store/types.js'
import { postgresBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const actor = { id: 'w', name: 'W', kind: 'human' as const }

describe.skipIf(!TEST_DATABASE_URL)('subscriptions of one instance and another instance\'s commits', () => {
  let writer: EventStore
  let reader: EventStore
  let drop: () => Promise<void>
  let eventReads = 0

  beforeAll(async () => {
    const created = await postgresBackend.create()
    drop = created.drop
    writer = await openStore(created.config)
    const driver = await openDriver(created.config)
    const counting: SqlDriver = {
      ...driver,
      query(text, params) {
        if (/\bFROM events\b/.test(text)) eventReads += 1
        return driver.query(text, params)
      },
    }
    reader = await createEventStore(counting, { channel: notifyChannel(created.config.schema), pollMs: 200 })
  })
  afterAll(async () => {
    await reader?.close()
    await writer?.close()
    await drop?.()
  })

  it('reads each commit once for 300 idle subscriptions, and delivers it to all of them', async () => {
    const seen = Array.from({ length: 300 }, () => 0)
    const subs = seen.map((_, i) => reader.subscribe({ session: `s${i % 10}` }, () => { seen[i] += 1 }))
    const before = eventReads
    for (let n = 1; n <= 20; n++) {
      for (let s = 0; s < 10; s++) await writer.append(`s${s}`, [{ type: 'conversation.turn', data: { role: 'user', text: `t${n}` }, actor }])
      await until(() => seen.every((count) => count === n), { what: `300 subscriptions to get commit round ${n}` })
    }
    const reads = eventReads - before
    console.log(`tail test: 200 commits from another instance reached 300 subscriptions with ${reads} reads of the log`)
    // Before: every subscription read on every wake-up and every poll — at least 300 × 20.
    // Now one reader per instance: a read per notification at most, and one per poll.
    expect(reads).toBeLessThan(400)
    await Promise.all(subs.map((sub) => sub.close()))
  })
})
