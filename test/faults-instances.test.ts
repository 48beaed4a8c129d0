/**
 * Several instances on one database: two servers (in this process) share a schema. Clients
 * on either converge on every collection, an event appended over HTTP on one streams over
 * SSE from the other, and a decision whose votes arrive on both instances at once is
 * recorded once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { RunningServer } from '../src/main.js'
import { propose, vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { getDecisions } from '../src/session/roots.js'
import { annotate, annotationText, deselect, explore, select } from '../src/session/write.js'
import type { StockClient } from './fixtures/child.js'
import { databaseAvailable, type FreshDatabase } from './fixtures/cluster.js'
import { startTwoInstances, type TwoInstances } from './fixtures/instances.js'
import { call } from './fixtures/server.js'
import { readSse } from './fixtures/sse.js'
import { until } from './fixtures/until.js'

const stateOf = (client: StockClient) => JSON.stringify(readState(client.doc))

describe.skipIf(!databaseAvailable)('two instances on one database', () => {
  let pair: TwoInstances
  let db: FreshDatabase
  let a: RunningServer
  let b: RunningServer
  let clients: StockClient[]
  let join: TwoInstances['join']

  beforeAll(async () => {
    pair = await startTwoInstances()
    ;({ db, a, b, clients, join } = pair)
  })
  afterAll(async () => pair?.close())

  it('clients on either instance converge on selections, path and annotations', async () => {
    const session = 'multi'
    const team = [join(a, session, 'ann'), join(a, session, 'abe'), join(b, session, 'bea'), join(b, session, 'bo')]
    await until(() => team.every((c) => c.synced()), { what: 'all synced' })
    const notes = new Map<string, string>()
    // Concurrent edits on both sides: every client writes to every collection.
    for (let round = 0; round < 10; round++) {
      for (const [i, client] of team.entries()) {
        select(client.doc, `m-${round}-${i}`, client.name)
        if (round % 3 === 0) deselect(client.doc, `m-${Math.max(0, round - 3)}-${(i + 1) % team.length}`)
        explore(client.doc, { memoryId: `m-${round}-${i}`, by: client.name, note: `step ${round}` })
        if (round === 0) notes.set(client.name, annotate(client.doc, { target: `m-0-${i}`, author: client.name, text: `${client.name}:` }))
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    // Everyone types into the first client's annotation at once.
    const shared = notes.get('ann')!
    await until(() => team.every((c) => annotationText(c.doc, shared) !== undefined), { what: 'the annotation reached everyone' })
    for (const client of team) annotationText(client.doc, shared)!.insert(0, `[${client.name}]`)

    await until(() => new Set(team.map(stateOf)).size === 1, { what: 'four clients on two instances converged' })
    const state = readState(team[0]!.doc)
    expect(Object.keys(state.selections).length).toBeGreaterThan(20)
    expect(state.explorationPath).toHaveLength(40)
    expect(Object.keys(state.annotations)).toHaveLength(4)
    for (const client of team) expect(state.annotations[shared]!.text).toContain(`[${client.name}]`)
    // Both instances serve the same state over HTTP.
    await until(async () => {
      const [fromA, fromB] = await Promise.all([a, b].map((s) => call(s.url, 'GET', `/api/sessions/${session}`)))
      return JSON.stringify(fromA!.body.state) === JSON.stringify(state) && JSON.stringify(fromB!.body.state) === JSON.stringify(state)
    }, { what: 'GET /api/sessions/:id agrees on both instances' })
  })

  it('events appended over HTTP on one instance stream over SSE from the other', async () => {
    const session = 'feed'
    expect((await call(a.url, 'POST', '/api/sessions', { id: session })).status).toBe(201)
    let arrived = 0
    const stream = readSse(`${b.url}/api/sessions/${session}/stream?types=note.*`, { count: 3, onMessage: () => void (arrived += 1) })
    const appended: number[] = []
    const append = async (text: string) => {
      const response = await call(a.url, 'POST', `/api/sessions/${session}/events`, { type: 'note.added', data: { text } })
      expect(response.status).toBe(201)
      appended.push(response.body.events[0].position)
    }
    // Once the first arrived the stream is live: the next two can only come through NOTIFY.
    await append('one')
    await until(() => arrived === 1, { what: 'the first event on the other instance' })
    for (const text of ['two', 'three']) await append(text)
    const messages = await stream
    expect(messages.map((m) => JSON.parse(m.data).data.text)).toEqual(['one', 'two', 'three'])
    expect(messages.map((m) => Number(m.id))).toEqual(appended)
  })

  it('a decision with voters on both instances is reached and recorded once', async () => {
    const session = 'vote'
    const onA = [join(a, session, 'ava'), join(a, session, 'al')]
    const onB = [join(b, session, 'ben'), join(b, session, 'bex')]
    const all = [...onA, ...onB]
    await until(() => all.every((c) => c.synced()), { what: 'voters synced' })
    const decisions = Array.from({ length: 5 }, (_, i) =>
      propose(onA[0]!.doc, { question: `q${i}?`, options: ['yes', 'no'], quorum: 2, createdBy: 'ava' }))
    await until(() => all.every((c) => decisions.every((id) => getDecisions(c.doc).has(id))), { what: 'proposals everywhere' })
    // The deciding votes land on different instances in the same instant: both see the quorum.
    for (const id of decisions) {
      vote(onA[1]!.doc, id, 'al', 'yes')
      vote(onB[0]!.doc, id, 'ben', 'yes')
    }
    const statusOf = (c: StockClient, id: string) => (getDecisions(c.doc).get(id) as Y.Map<unknown>).get('status')
    await until(() => all.every((c) => decisions.every((id) => statusOf(c, id) === 'accepted')), { what: 'accepted everywhere' })
    await Promise.all([a.rooms.idle(), b.rooms.idle()])
    const { body } = await call(b.url, 'GET', `/api/sessions/${session}/events?types=decision.reached&limit=100`)
    const recorded = body.events.map((e: { data: { decisionId: string } }) => e.data.decisionId).sort()
    expect(recorded).toEqual([...decisions].sort())
    for (const event of body.events) expect(event.data).toMatchObject({ outcome: 'yes', votes: { al: 'yes', ben: 'yes' } })
  })
})
