/**
 * The PostgreSQL presence bus on its own (presenceBus.ts): every message published in one tick,
 * for any number of sessions, goes in one statement and reaches each session's listeners in
 * order and byte for byte; a message too long for a NOTIFY goes through the spill table after
 * those before it and before those after it, however slow the statements; closing sends what is
 * still waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresBus, type PresenceBus } from '../src/collab/presenceBus.js'
import type { Log } from '../src/collab/types.js'
import type { SqlDriver } from '../src/store/types.js'
import { freshStore, postgresBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} }

describe.skipIf(!TEST_DATABASE_URL)('the PostgreSQL presence bus', () => {
  let fresh: Awaited<ReturnType<typeof freshStore>>
  let statements: string[]
  // Holds back every tick's statement this long, as a busy pool connection would.
  let notifyDelayMs = 0
  let driver: SqlDriver
  let bus: PresenceBus

  beforeAll(async () => {
    fresh = await freshStore(postgresBackend)
    const real = fresh.store.driver
    statements = []
    driver = {
      ...real,
      query: async (text: string, params?: unknown[]) => {
        statements.push(text)
        if (notifyDelayMs > 0 && text.includes('unnest')) await new Promise((resolve) => setTimeout(resolve, notifyDelayMs))
        return real.query(text, params)
      },
    } as SqlDriver
    bus = createPostgresBus(driver, { schema: fresh.config.schema, log: quiet })
  })
  afterAll(async () => {
    await bus?.close()
    await fresh?.close()
  })

  it('sends a tick\'s messages for many sessions in one statement, each session\'s in order and intact', async () => {
    const sessions = ['s-one', 's-two', 's-three']
    const heard = new Map<string, string[]>(sessions.map((s) => [s, []]))
    const leave = await Promise.all(sessions.map((s) => bus.join(s, (message) => heard.get(s)!.push(message))))
    // Text an array literal must quote: quotes, backslashes, braces, commas, NULL, non-ASCII.
    const sent = new Map(sessions.map((s) => [s, Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ n: i, s, text: `"q" \\ {a,b} NULL é ✓ ${'x'.repeat(i * 50)}` }))]))
    statements.length = 0
    for (let i = 0; i < 40; i++) for (const s of sessions) bus.publish(s, sent.get(s)![i]!)
    await until(() => sessions.every((s) => heard.get(s)!.length >= 40))
    expect(statements).toHaveLength(1)
    for (const s of sessions) expect(heard.get(s)).toEqual(sent.get(s))
    await Promise.all(leave.map((stop) => stop()))
  })

  it('a message over the NOTIFY limit goes through the spill table, after the ones before it', async () => {
    const heard: string[] = []
    const leave = await bus.join('s-long', (message) => heard.push(message))
    const long = JSON.stringify({ text: 'y'.repeat(20_000) })
    bus.publish('s-long', 'short one')
    bus.publish('s-long', long)
    await until(() => heard.length >= 2)
    expect(heard).toEqual(['short one', long])
    await leave()
  })

  it('a long message keeps its place though the statement before it is slow, and so do the ones after it', async () => {
    const heard: string[] = []
    const leave = await bus.join('s-order', (message) => heard.push(message))
    const long = JSON.stringify({ text: 'z'.repeat(9_000) })
    notifyDelayMs = 150
    try {
      bus.publish('s-order', 'before')
      bus.publish('s-order', long)
      bus.publish('s-order', 'after')
      await until(() => heard.length >= 3, { what: 'the three messages' })
    } finally {
      notifyDelayMs = 0
    }
    expect(heard).toEqual(['before', long, 'after'])
    await leave()
  })

  it('closing sends what waits for the end of the tick', async () => {
    const heard: string[] = []
    const leave = await bus.join('s-close', (message) => heard.push(message))
    const other = createPostgresBus(driver, { schema: fresh.config.schema, log: quiet })
    other.publish('s-close', 'last words')
    await other.close()
    await until(() => heard.length >= 1)
    expect(heard).toEqual(['last words'])
    await leave()
  })
})
