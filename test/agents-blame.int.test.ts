/**
 * Blame and activity against a live server after a mixed sequence: a human on a stock
 * y-websocket client, an agent in two runs (edits over sync, and over HTTP with `basedOn`),
 * and the server accepting a decision. Blame is checked for every entry against the truth
 * rebuilt from the log's payloads (each update applied in turn, each entry's value compared
 * before and after), which blame itself never reads; activity against the log's events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { joinSession, type AgentSession, type BlameEntry } from '../src/agent/index.js'
import { vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { getExplorationPath } from '../src/session/roots.js'
import { annotate, annotationText, deselect, explore, select } from '../src/session/write.js'
import type { StoredEvent } from '../src/store/types.js'
import { peer, sessionLog, type Peer } from './fixtures/clients.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'
import { mcpTools } from './fixtures/mcp.js'

interface Truth {
  created: StoredEvent
  last: StoredEvent
}

/** Every entry of `doc` by id (`path/key`, a step by its Yjs id, a vote by decision and voter) → its value as JSON. */
function entriesOf(doc: Y.Doc): Map<string, string> {
  const state = readState(doc)
  const out = new Map<string, string>()
  for (const [key, value] of Object.entries(state.selections)) out.set(`selections/${key}`, JSON.stringify(value))
  for (const [key, value] of Object.entries(state.annotations)) out.set(`annotations/${key}`, JSON.stringify(value))
  for (const [key, value] of Object.entries(state.decisions)) {
    out.set(`decisions/${key}`, JSON.stringify(value))
    for (const [voter, option] of Object.entries(value.votes)) out.set(`decisions/${key}/vote/${voter}`, option)
  }
  for (let item = getExplorationPath(doc)._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    item.content.getContent().forEach((value, i) => out.set(`explorationPath/${item!.id.client}:${item!.id.clock + i}`, JSON.stringify(value)))
  }
  return out
}

/** Who created and last changed each entry, from the payloads: each update applied in turn. */
function truthOf(updates: StoredEvent[]): Map<string, Truth> {
  const doc = new Y.Doc()
  const truth = new Map<string, Truth>()
  let before = new Map<string, string>()
  for (const event of updates) {
    Y.applyUpdate(doc, event.payload!)
    const after = entriesOf(doc)
    for (const [id, value] of after) {
      const known = truth.get(id)
      if (!before.has(id) || !known) truth.set(id, { created: event, last: event })
      else if (before.get(id) !== value) known.last = event
    }
    for (const id of before.keys()) if (!after.has(id)) truth.delete(id)
    before = after
  }
  doc.destroy()
  return truth
}

const idOf = (e: BlameEntry) =>
  e.step !== undefined ? `explorationPath/${e.step}` : e.vote !== undefined ? `${e.path}/${e.key}/vote/${e.vote}` : `${e.path}/${e.key}`

describe('blame and activity', () => {
  let server: TestServer
  let ada: Peer
  let nav: AgentSession
  let nav2: AgentSession
  const session = 'b1'
  const marks: Record<string, number> = {}
  let a2 = ''

  const docUpdates = async (): Promise<StoredEvent[]> => (await sessionLog(server.store, session)).filter((e) => e.type === 'doc.update')
  /** Does `action`, then waits until the log holds `count` more doc.updates. */
  const step = async (count: number, action: () => unknown) => {
    const before = (await docUpdates()).length
    await action()
    await until(async () => (await docUpdates()).length >= before + count, { what: `${count} more doc.update(s)` })
  }

  beforeAll(async () => {
    server = await startTestServer()
    ada = peer(`${server.url.replace('http', 'ws')}/sync`, session, { id: 'ada', name: 'Ada', kind: 'human' })
    await ada.synced()
    nav = await joinSession({ url: server.url, session, id: 'nav', name: 'Navigator', kind: 'agent', run: 'r-1' })
    nav2 = await joinSession({ url: server.url, session, id: 'nav', name: 'Navigator', kind: 'agent', run: 'r-2' })

    await step(1, () => select(ada.doc, 'm-1', 'ada'))
    await step(1, () => explore(ada.doc, { memoryId: 'm-1', by: 'ada' }))
    await step(1, () => annotate(ada.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'latency doubled' }))
    await step(1, () => nav.explore('m-2', 'the deploy log', { rationale: 'the deploy came first' }))
    await step(1, async () => (a2 = await nav.annotate('m-2', 'the cache key changed')))
    const { version } = await nav.read()
    await step(1, () => nav.resolve('a1', { basedOn: version, rationale: 'explained by the cache key' }))
    marks.human = Date.now()
    await step(1, () => annotationText(ada.doc, a2)!.insert(0, 'yes: '))
    await step(1, () => nav2.propose({ id: 'd1', question: 'roll back?', options: ['yes', 'no'], quorum: 2 }, { rationale: 'it is cheap' }))
    await step(1, () => vote(ada.doc, 'd1', 'ada', 'yes'))
    const { version: v2 } = await nav2.read()
    await step(2, () => nav2.vote('d1', 'yes', { basedOn: v2, rationale: 'agreed' })) // and the server accepts it
    await step(1, () => nav.select('m-1'))
    await step(1, () => getExplorationPath(ada.doc).delete(1, 1)) // the agent's step
    const { version: v3 } = await nav.read()
    await step(1, () => nav.explore('m-2', 'again', { basedOn: v3 }))
    await step(1, () => deselect(ada.doc, 'm-1'))
    await step(1, () => select(ada.doc, 'm-1', 'ada'))
    await step(1, () => explore(ada.doc, { memoryId: 'm-1', by: 'ada' })) // a second step of m-1
  }, 60_000)
  afterAll(async () => {
    await nav?.close()
    await nav2?.close()
    ada?.destroy()
    await server.stop()
  })

  it('names, for every entry of the document, who created it and who changed it last, as the log shows', async () => {
    const updates = await docUpdates()
    const truth = truthOf(updates)
    const { entries } = await nav.blame()
    expect(entries.map(idOf).sort()).toEqual([...truth.keys()].sort())
    for (const entry of entries) {
      const t = truth.get(idOf(entry))!
      const who = (e: StoredEvent) => ({ id: e.actor.id, run: e.actor.run })
      expect({ created: entry.createdBy && { id: entry.createdBy.id, run: entry.createdBy.run }, createdAt: entry.createdAt }, idOf(entry))
        .toEqual({ created: who(t.created), createdAt: t.created.recordedAt })
      expect({
        last: entry.lastChangedBy && { id: entry.lastChangedBy.id, run: entry.lastChangedBy.run },
        lastChangedAt: entry.lastChangedAt, lastChangedVersion: entry.lastChangedVersion, run: entry.run,
      }, idOf(entry)).toEqual({
        last: who(t.last), lastChangedAt: t.last.recordedAt, lastChangedVersion: t.last.version, run: t.last.actor.run,
      })
    }
    const byId = new Map(entries.map((e) => [idOf(e), e]))
    // Each collection and each vote is there; the accepted decision was last changed by the server.
    expect(byId.get('decisions/d1')).toMatchObject({ createdBy: { id: 'nav', run: 'r-2' }, lastChangedBy: { id: 'mnemo', kind: 'server' } })
    expect(byId.get('decisions/d1/vote/ada')).toMatchObject({ createdBy: { id: 'ada' }, lastChangedBy: { id: 'ada' } })
    expect(byId.get('decisions/d1/vote/nav')).toMatchObject({ createdBy: { id: 'nav', run: 'r-2' }, run: 'r-2', rationale: 'agreed' })
    expect(byId.get('annotations/a1')).toMatchObject({ createdBy: { id: 'ada' }, lastChangedBy: { id: 'nav', run: 'r-1' }, rationale: 'explained by the cache key' })
    const steps = entries.filter((e) => e.path === 'explorationPath')
    expect(steps.map((e) => [e.index, e.key, e.createdBy?.id])).toEqual([[0, 'm-1', 'ada'], [1, 'm-2', 'nav'], [2, 'm-1', 'ada']])
    expect(steps[0]!.step).not.toBe(steps[2]!.step)
    // Deselected and selected again: created anew.
    expect(byId.get('selections/m-1')).toMatchObject({ createdBy: { id: 'ada' }, lastChangedBy: { id: 'ada' } })
    expect(byId.get('selections/m-1')!.createdAt).toBe(updates.at(-2)!.recordedAt)
    // An annotation's text in runs by who wrote them: the human's insert before the agent's words.
    const run = (r: NonNullable<BlameEntry['text']>[number]) => [r.from, r.to, r.by?.id ?? null, r.run ?? null]
    expect(byId.get(`annotations/${a2}`)!.text!.map(run)).toEqual([[0, 5, 'ada', null], [5, 26, 'nav', 'r-1']])
    expect(byId.get('annotations/a1')!.text!.map(run)).toEqual([[0, 15, 'ada', null]])
    const [human, agent] = byId.get(`annotations/${a2}`)!.text!
    const carrier = (r: typeof human) => updates.find((e) => e.version === r!.version)!
    expect([carrier(human).actor.id, carrier(human).recordedAt, carrier(agent).actor.id]).toEqual(['ada', human!.at, 'nav'])
    expect(entries.filter((e) => e.path !== 'annotations').every((e) => e.text === undefined)).toBe(true)
    // blame over HTTP is the same, and described.
    const http = await call(server.url, 'GET', `/api/sessions/${session}/blame`)
    expect(http.status).toBe(200)
    expect(http.body.entries).toEqual(entries)
    expect((await call(server.url, 'GET', '/api/sessions/nope/blame')).body.error.code).toBe('session_not_found')
  })

  it('finds the rationale of an edit made over sync in the agent.rationale event beside it', async () => {
    await step(1, () => nav.explore('m-3', undefined, { rationale: 'the third lead' }))
    await until(async () => (await sessionLog(server.store, session)).some((e) => e.type === 'agent.rationale' && e.data.key === 'm-3'),
      { what: 'the rationale in the log' })
    const { entries } = await nav.blame()
    expect(entries.find((e) => e.path === 'explorationPath' && e.key === 'm-3')).toMatchObject({
      createdBy: { id: 'nav', run: 'r-1' }, rationale: 'the third lead',
    })
  })

  it('groups the changes by actor and run, filtered by actor, run and time', async () => {
    const updates = await docUpdates()
    const all = await nav.activity()
    expect(all.next).toBeNull()
    const groupKeys = all.groups.map((g) => `${g.actor.id}/${g.run}`)
    expect(groupKeys).toEqual(['ada/null', 'nav/r-1', 'nav/r-2', 'mnemo/null'])
    // Every change of the log is in exactly its actor's group, in order, with its position.
    for (const group of all.groups) {
      const mine = updates.filter((e) => e.actor.id === group.actor.id && (e.actor.run ?? null) === group.run)
      const expected = mine.flatMap((e) => (e.data.changes as Array<Record<string, unknown>>).map((c) => ({
        ...c, position: e.position, version: e.version, ...(e.meta.rationale !== undefined ? { rationale: e.meta.rationale } : {}),
      })))
      expect(group.changes).toEqual(expected)
      expect([group.from, group.to]).toEqual([mine[0]!.recordedAt, mine.at(-1)!.recordedAt])
    }

    const agentOnly = await nav.activity({ actor: 'nav' })
    expect(agentOnly.groups.map((g) => g.run)).toEqual(['r-1', 'r-2'])
    const run2 = await nav.activity({ actor: 'nav', run: 'r-2' })
    expect(run2.groups).toHaveLength(1)
    expect(run2.groups[0]!.changes.map((c) => [c.path, c.op, c.key])).toEqual([['decisions', 'add', 'd1'], ['decisions', 'update', 'd1']])
    expect(run2.groups[0]!.changes[1]!.votes).toEqual([{ key: 'nav', op: 'add' }])

    // From the human's edit of a2 on: nothing before it.
    const since = await nav.activity({ from: new Date(marks.human!) })
    const firstPosition = Math.min(...since.groups.flatMap((g) => g.changes.map((c) => c.position)))
    expect(firstPosition).toBe(updates.find((e) => Date.parse(e.recordedAt) >= marks.human!)!.position)
    const until_ = await nav.activity({ to: updates[2]!.recordedAt })
    expect(until_.groups.flatMap((g) => g.changes.map((c) => c.position)).sort((a, b) => a - b))
      .toEqual(updates.filter((e) => e.recordedAt <= updates[2]!.recordedAt).map((e) => e.position))

    // Paging: `next` goes on where the page stopped.
    const first = await nav.activity({ limit: 3 })
    expect(first.next).toBe(updates[2]!.position)
    const rest = await nav.activity({ after: first.next! })
    expect(rest.groups.flatMap((g) => g.changes).length + first.groups.flatMap((g) => g.changes).length)
      .toBe(all.groups.flatMap((g) => g.changes).length)

    const bad = await call(server.url, 'GET', `/api/sessions/${session}/activity?from=yesterday`)
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/^from must be an ISO 8601 date-time/)
    const backwards = await call(server.url, 'GET', `/api/sessions/${session}/activity?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`)
    expect(backwards.body.error.message).toMatch(/^from \(.*\) must not be after to/)
  })

  it('answers blame and activity as MCP tools', async () => {
    const tools = await mcpTools(nav)
    try {
      expect(await tools.json('blame')).toEqual(await nav.blame())
      expect(await tools.json('activity', { actor: 'nav', run: 'r-2' })).toEqual(await nav.activity({ actor: 'nav', run: 'r-2' }))
      expect((await tools.call('activity', { from: 'yesterday' })).isError).toBe(true)
    } finally {
      await tools.close()
    }
  })
})
