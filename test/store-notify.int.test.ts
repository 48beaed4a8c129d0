/**
 * Commits are notified only while someone else listens (createEventStore.ts, migrations/0011):
 * every store announces itself on the log's channel (`hello`, answered with `here`), and a
 * store that has heard no other and whose registry sees no other instance sends no NOTIFY —
 * nobody would hear it but its own LISTEN. A listener that does not announce itself (here:
 * the test's own LISTEN) gets nothing; a store that announced itself is notified, whichever
 * of the two opened first. On a real PostgreSQL, with polls and unasked announcements too
 * rare to matter: what is heard, is heard from an answer.
 */
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { notifyChannel, openStore } from '../src/store/openStore.js'
import type { EventStore } from '../src/store/types.js'
import { postgresBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { until } from './fixtures/until.js'

const actor = { id: 'w', name: 'W', kind: 'human' as const }
const turn = (text: string) => [{ type: 'conversation.turn', data: { role: 'user', text }, actor }]

describe.skipIf(!TEST_DATABASE_URL)('commits notified while someone else listens', () => {
  let created: Awaited<ReturnType<typeof postgresBackend.create>>
  let admin: postgres.Sql
  const heard: string[] = []
  const stores: EventStore[] = []
  let channel: string
  beforeAll(async () => {
    created = await postgresBackend.create()
    channel = notifyChannel(created.config.schema)
    admin = postgres(TEST_DATABASE_URL!, { max: 2, onnotice: () => {} })
    await admin.listen(channel, (payload) => heard.push(payload))
  })
  afterAll(async () => {
    for (const store of stores) await store.close()
    await admin?.end()
    await created?.drop()
  })

  const open = async () => {
    const store = await openStore({ ...created.config, pollMs: 600_000, announceEveryMs: 600_000 })
    stores.push(store)
    return store
  }
  /** Everything the test's LISTEN has heard up to now: a NOTIFY of its own, heard, fences what came before it. */
  let fences = 0
  const heardSoFar = async () => {
    const fence = `fence ${fences++}`
    await admin`SELECT pg_notify(${channel}, ${fence})`
    await until(() => heard.includes(fence), { what: `the test's own ${fence}` })
    return heard.slice(0, heard.indexOf(fence)).filter((p) => !p.startsWith('fence '))
  }
  const heads = (payloads: string[]) => payloads.filter((p) => /^\d+/.test(p))

  it('a store alone notifies nobody, and starts once another store announces itself', async () => {
    const alone = await open()
    for (let i = 0; i < 5; i++) expect((await alone.append('s', turn(`alone ${i}`))).ok).toBe(true)
    const before = await heardSoFar()
    expect(before.filter((p) => p.startsWith('hello '))).toHaveLength(1) // its own announcement
    expect(heads(before)).toEqual([])
    expect(alone.othersListening()).toBe(false) // the test's LISTEN did not announce itself

    // A second store announces itself; the first answers and notifies it from then on.
    const second = await open()
    const seen: number[] = []
    const sub = second.subscribe({ session: 's' }, (event) => { seen.push(event.position) })
    await until(() => seen.length === 5, { what: 'the catch-up of the five' })
    await until(() => alone.othersListening() && second.othersListening(), { what: 'each to have heard the other' })
    const { events } = await alone.append('s', turn('after')) as { events: { position: number }[] }
    await until(() => seen.includes(events[0]!.position), { what: 'the commit notified to the second store (its poll is 10 minutes)' })
    expect(heads(await heardSoFar()).length).toBeGreaterThan(0)
    expect(heard.filter((p) => p.startsWith('here ')).length).toBeGreaterThan(0) // the first one's answer
    await sub.close()
  })

  it('a store opened after another learns of it from its answer, and notifies it', async () => {
    const [older] = stores
    const seen: number[] = []
    const sub = older!.subscribe({ session: 'n' }, (event) => { seen.push(event.position) })
    const newer = await open()
    // Its first commits may go out before the answer to its hello came back (nobody to notify
    // yet, as far as it knows); once it has heard the answer, its next commit is notified.
    expect((await newer.append('n', turn('before the answer, perhaps'))).ok).toBe(true)
    await until(() => newer.othersListening(), { what: 'the newer store to hear the older one answer its hello' })
    const { events } = await newer.append('n', turn('after the answer')) as { events: { position: number }[] }
    const last = events[0]!.position
    await until(() => seen.includes(last), { what: 'a commit of the newer store notified to the older one (its poll is 10 minutes)' })
    await until(() => seen.length === 2, { what: 'every commit up to it delivered' })
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    await sub.close()
  })
})
