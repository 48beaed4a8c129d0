/**
 * Writes guarded by what the writer read: `POST …/doc` with `basedOn`, through the SDK, raw
 * HTTP and MCP, against a live server with a human on a stock y-websocket client. A write
 * based on a version before someone else changed its entry is refused (409 `stale_write`,
 * naming the entry, who and when) with nothing stored; one to an untouched entry lands and
 * reaches the human; the writer's own changes never make its write stale.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { joinSession, MnemoError, type AgentSession } from '../src/agent/index.js'
import { propose, rejectDecision, vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { annotate, annotationText, select } from '../src/session/write.js'
import type { StoredEvent } from '../src/store/types.js'
import { peer, sessionLog, type Peer } from './fixtures/clients.js'
import { databaseAvailable } from './fixtures/cluster.js'
import { startTwoInstances } from './fixtures/instances.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'
import { mcpTools, toolText } from './fixtures/mcp.js'

describe('writes guarded by basedOn', () => {
  let server: TestServer
  const peers: Peer[] = []
  const agents: AgentSession[] = []
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(async () => {
    for (const a of agents) await a.close()
    for (const p of peers) p.destroy()
    await server.stop()
  })

  const human = async (session: string, id = 'ada', name = 'Ada') => {
    const p = peer(`${server.url.replace('http', 'ws')}/sync`, session, { id, name, kind: 'human' })
    peers.push(p)
    await p.synced()
    return p
  }
  const agent = async (session: string, run = 'r-1') => {
    const a = await joinSession({ url: server.url, session, id: 'nav', name: 'Navigator', kind: 'agent', run })
    agents.push(a)
    return a
  }
  const docUpdates = async (session: string): Promise<StoredEvent[]> =>
    (await sessionLog(server.store, session)).filter((e) => e.type === 'doc.update')
  /** Waits until the log holds a doc.update by `actor` that names `key`. */
  const stored = (session: string, actor: string, key: string) => until(async () =>
    (await docUpdates(session)).some((e) => e.actor.id === actor && (e.data.changes as Array<{ key: string }>).some((c) => c.key === key)),
  { what: `${actor}'s change of ${key} in the log` })
  const post = (session: string, body: unknown, id = 'ada') =>
    call(server.url, 'POST', `/api/sessions/${session}/doc`, body, { 'x-mnemo-id': id, 'x-mnemo-name': id, 'x-mnemo-kind': 'human' })

  it('refuses a write to an entry someone else changed after basedOn, storing nothing; lands one to an untouched entry', async () => {
    const ada = await human('g1')
    annotate(ada.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'latency doubled' })
    annotate(ada.doc, { id: 'a2', target: 'm-2', author: 'ada', text: 'the cache key changed' })
    await stored('g1', 'ada', 'a2')
    const nav = await agent('g1')
    const { version: read } = await nav.read()

    // Ada edits a1 after the agent read it.
    const updates = (await docUpdates('g1')).length
    annotationText(ada.doc, 'a1')!.insert(0, 'p99 ')
    await until(async () => (await docUpdates('g1')).length === updates + 1, { what: 'Ada\'s edit in the log' })
    const before = await sessionLog(server.store, 'g1')
    const changedAt = (await docUpdates('g1')).at(-1)!

    const refused = await nav.resolve('a1', { basedOn: read, rationale: 'the deploy explains it' }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(MnemoError)
    const error = refused as MnemoError
    expect(error.status).toBe(409)
    expect(error.code).toBe('stale_write')
    expect(error.details).toEqual([{
      path: 'annotations', key: 'a1', by: { id: 'ada', name: 'Ada', kind: 'human' },
      version: changedAt.version, position: changedAt.position, at: changedAt.recordedAt,
    }])
    expect(error.message).toContain(`annotations "a1" was changed by Ada (ada) at version ${changedAt.version} (${changedAt.recordedAt})`)
    expect(error.message).toContain(`after version ${read}`)
    // Nothing stored (the agent's presence may come and go: no doc.update of the agent, nothing else of it).
    const after = await sessionLog(server.store, 'g1')
    expect(after.slice(before.length).filter((e) => e.actor.id === 'nav' && !e.type.startsWith('participant.'))).toEqual([])
    expect(nav.state().annotations.a1!.resolved).toBe(false)
    expect(readState(ada.doc).annotations.a1!.resolved).toBe(false)

    // The same basedOn, an entry nobody touched since: it lands, attributed, with its rationale, and Ada sees it.
    await nav.resolve('a2', { basedOn: read, rationale: 'seen in the diff' })
    expect(nav.state().annotations.a2!.resolved).toBe(true) // at once: the server's update applied locally
    await until(() => readState(ada.doc).annotations.a2?.resolved === true, { what: 'Ada to see a2 resolved' })
    const written = (await docUpdates('g1')).at(-1)!
    expect(written.actor).toMatchObject({ id: 'nav', kind: 'agent', run: 'r-1' })
    expect(written.meta.rationale).toBe('seen in the diff')
    expect(written.data.changes).toEqual([{ path: 'annotations', op: 'update', key: 'a2', fields: ['resolved'] }])
    // No agent.rationale beside it: the rationale is the doc.update's own.
    expect((await sessionLog(server.store, 'g1')).filter((e) => e.type === 'agent.rationale')).toEqual([])
    // And the provider did not send it back: one doc.update for it.
    await nav.flush()
    expect((await docUpdates('g1')).filter((e) => e.actor.id === 'nav')).toHaveLength(1)

    // New entries and appended steps depend on nothing: they land on an old basedOn too.
    const id = await nav.annotate('m-1', 'and the p99 too', { basedOn: read })
    await nav.explore('m-1', 'the incident report', { basedOn: read })
    await until(() => readState(ada.doc).annotations[id]?.text === 'and the p99 too' && readState(ada.doc).explorationPath.length === 1,
      { what: 'Ada to see the new annotation and step' })
    // The server's writes for a room share one Yjs client id: the state vector does not grow per write.
    const clients = (await docUpdates('g1')).filter((e) => e.actor.id === 'nav')
      .map((e) => new Set(Y.decodeUpdate(e.payload!).structs.map((s) => s.id.client)))
    expect(clients).toHaveLength(3)
    expect(new Set(clients.flatMap((c) => [...c])).size).toBe(1)
  })

  it('never holds the writer\'s own changes against it, and tells votes apart from the decision', async () => {
    const ada = await human('g2')
    select(ada.doc, 'm-1', 'ada')
    propose(ada.doc, { id: 'd1', question: 'roll back?', options: ['yes', 'no'], quorum: 3, createdBy: 'ada' })
    await stored('g2', 'ada', 'd1')
    const nav = await agent('g2')
    const { version: read } = await nav.read()

    // Ada's own later change, then her write based on before it: not stale.
    select(ada.doc, 'm-1', 'ada', 5)
    await until(async () => (await docUpdates('g2')).length === 3, { what: 'the reselection in the log' })
    const own = await post('g2', { ops: [{ op: 'deselect', memoryId: 'm-1' }], basedOn: read })
    expect(own.status).toBe(201)
    expect(own.body).toMatchObject({ entries: [{ op: 'deselect', path: 'selections', key: 'm-1' }], update: expect.any(String) })
    await until(() => readState(ada.doc).selections['m-1'] === undefined, { what: 'Ada to see her deselection' })

    // Someone else's vote does not make the agent's vote stale; a rejection does.
    vote(ada.doc, 'd1', 'ada', 'no')
    await until(async () => (await docUpdates('g2')).length === 5, { what: 'Ada\'s vote in the log' })
    await nav.vote('d1', 'yes', { basedOn: read })
    expect(nav.state().decisions.d1!.votes).toEqual({ ada: 'no', nav: 'yes' })
    const { version: voted } = await nav.read()
    rejectDecision(ada.doc, 'd1')
    await until(async () => (await docUpdates('g2')).length === 7, { what: 'the rejection in the log' })
    const refused = await nav.vote('d1', 'no', { basedOn: voted }).catch((e: unknown) => e) as MnemoError
    // Stale (rather than "not open"): it says who closed it.
    expect(refused.code).toBe('stale_write')
    expect(refused.details).toEqual([expect.objectContaining({ path: 'decisions', key: 'd1', vote: 'nav', by: expect.objectContaining({ id: 'ada' }) })])
    expect(refused.message).toContain('decisions "d1" (the vote of "nav") was changed by Ada (ada)')
    // Without basedOn the same vote is simply impossible.
    const impossible = await post('g2', { ops: [{ op: 'vote', decisionId: 'd1', option: 'no' }] }, 'nav')
    expect(impossible.status).toBe(400)
    expect(impossible.body.error).toMatchObject({ code: 'invalid_operation', message: expect.stringMatching(/^ops\[0\]: Decision "d1" is rejected/) })
  })

  it('lets exactly one of two writers based on one version overwrite an entry', async () => {
    const ada = await human('g3')
    select(ada.doc, 'm-1', 'ada')
    await stored('g3', 'ada', 'm-1')
    const { body: { version } } = await call(server.url, 'GET', '/api/sessions/g3')
    const answers = await Promise.all(['bob', 'carol'].map((who) => post('g3', { ops: [{ op: 'select', memoryId: 'm-1' }], basedOn: version }, who)))
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409])
    const loser = answers.find((a) => a.status === 409)!
    const winner = answers.find((a) => a.status === 201)!
    expect(loser.body.error.details).toEqual([expect.objectContaining({ path: 'selections', key: 'm-1', version: winner.body.version })])
  })

  it('validates the body, naming the field; refuses an unknown onConflict, a future basedOn and an unknown session', async () => {
    const ada = await human('g4')
    select(ada.doc, 'm-1', 'ada')
    await stored('g4', 'ada', 'm-1')
    const problems: Array<[unknown, RegExp]> = [
      [{ ops: [] }, /^ops: must have at least 1 items$/],
      [{ ops: [{ op: 'select' }] }, /^ops\[0\]\.memoryId: is required$/],
      [{ ops: [{ op: 'annotate', target: 'm-1', text: '' }] }, /^ops\[0\]\.text: must not be empty$/],
      [{ ops: [{ op: 'propose', question: 'q', options: ['a'], quorum: 0 }] }, /^ops\[0\]\.quorum: must be at least 1$/],
      [{ ops: [{ op: 'fly', memoryId: 'm-1' }] }, /^ops\[0\]\.op: /],
      [{ ops: [{ op: 'select', memoryId: 'm-1' }], basedOn: -1 }, /^basedOn: must be at least 0$/],
      [{ ops: [{ op: 'select', memoryId: 'm-1' }], basedOn: 1, onConflict: 'merge' }, /^onConflict: /],
      [{ ops: [{ op: 'select', memoryId: 'm-1' }], title: 'a title' }, /^title: only with onConflict: "propose"$/],
      [{ ops: [{ op: 'select', memoryId: 'm-1' }], rationale: 'a\u0000b' }, /^rationale: must not contain U\+0000/],
    ]
    for (const [body, message] of problems) {
      const answer = await post('g4', body)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(answer.body.error.message, JSON.stringify(body)).toMatch(message)
    }
    const ahead = await post('g4', { ops: [{ op: 'select', memoryId: 'm-1' }], basedOn: 10_000 })
    expect(ahead.status).toBe(400)
    expect(ahead.body.error.message).toMatch(/^basedOn: 10000 is after session "g4"'s version \d+$/)
    expect((await post('nope', { ops: [{ op: 'select', memoryId: 'm-1' }] })).body.error.code).toBe('session_not_found')
    // Changing nothing stores nothing: 200 with the head.
    const noop = await post('g4', { ops: [{ op: 'deselect', memoryId: 'm-9' }] })
    expect(noop.status).toBe(200)
    expect(noop.body.update).toBeNull()
  })

  it('surfaces a stale write through MCP as a tool error naming the entry, who and when', async () => {
    const ada = await human('g5')
    annotate(ada.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'first' })
    await stored('g5', 'ada', 'a1')
    const nav = await agent('g5')
    const tools = await mcpTools(nav)
    try {
      const state = await tools.json('get_state')
      expect(state.version).toBeGreaterThan(0)
      expect(state.annotations.a1.text).toBe('first')
      annotationText(ada.doc, 'a1')!.insert(5, ', then more')
      await until(async () => (await docUpdates('g5')).length === 2, { what: 'Ada\'s edit in the log' })
      const refused = await tools.call('resolve_annotation', { annotationId: 'a1', basedOn: state.version })
      expect(refused.isError).toBe(true)
      expect(toolText(refused)).toMatch(/stale write: annotations "a1" was changed by Ada \(ada\) at version \d+ \(\d{4}-\d\d-\d\dT[^)]+\)/)
      expect(toolText(refused)).toContain('stale_write')
      const fresh = await tools.json('get_state')
      expect((await tools.call('resolve_annotation', { annotationId: 'a1', basedOn: fresh.version })).isError).toBeFalsy()
      await until(() => readState(ada.doc).annotations.a1?.resolved === true, { what: 'Ada to see a1 resolved' })
    } finally {
      await tools.close()
    }
  })
})

describe('the document size limit on HTTP writes', () => {
  it('refuses (413) a write that would grow the document past MNEMO_MAX_DOC_BYTES, storing nothing', async () => {
    const server = await startTestServer(undefined, { MNEMO_MAX_DOC_BYTES: '4096' })
    try {
      const headers = { 'x-mnemo-id': 'nav', 'x-mnemo-kind': 'agent' }
      await call(server.url, 'POST', '/api/sessions', { id: 'full' }, headers)
      const small = await call(server.url, 'POST', '/api/sessions/full/doc', { ops: [{ op: 'annotate', target: 'm', text: 'short' }] }, headers)
      expect(small.status).toBe(201)
      const big = await call(server.url, 'POST', '/api/sessions/full/doc', { ops: [{ op: 'annotate', target: 'm', text: 'x'.repeat(8000) }] }, headers)
      expect(big.status).toBe(413)
      expect(big.body.error).toMatchObject({ code: 'doc_too_large', message: expect.stringContaining('MNEMO_MAX_DOC_BYTES') })
      expect((await sessionLog(server.store, 'full')).filter((e) => e.type === 'doc.update')).toHaveLength(1)
      // The next write is whole (nothing of the refused one in it).
      const next = await call(server.url, 'POST', '/api/sessions/full/doc', { ops: [{ op: 'select', memoryId: 'm' }] }, headers)
      expect(next.status).toBe(201)
      expect((await call(server.url, 'GET', '/api/sessions/full')).body.state.annotations).toHaveProperty([small.body.entries[0].key])
    } finally {
      await server.stop()
    }
  })
})

describe.skipIf(!databaseAvailable)('guarded writes across two instances', () => {
  it('judges a write on one instance by a change made on the other, and a peer there sees the write', async () => {
    const pair = await startTwoInstances()
    try {
      const ada = pair.join(pair.b, 'two', 'ada')
      await until(() => ada.synced(), { what: 'ada to sync on b' })
      annotate(ada.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'on b' })
      await until(async () => (await sessionLog(pair.a.store, 'two')).some((e) => e.type === 'doc.update'), { what: 'the annotation in the log' })
      const { body: { version } } = await call(pair.a.url, 'GET', '/api/sessions/two')
      annotationText(ada.doc, 'a1')!.insert(0, 'edited ')
      await until(async () => (await sessionLog(pair.a.store, 'two')).filter((e) => e.type === 'doc.update').length === 2,
        { what: 'the edit in the log' })
      const headers = { 'x-mnemo-id': 'nav', 'x-mnemo-kind': 'agent' }
      const refused = await call(pair.a.url, 'POST', '/api/sessions/two/doc', { ops: [{ op: 'resolve', annotationId: 'a1' }], basedOn: version }, headers)
      expect(refused.status).toBe(409)
      expect(refused.body.error.details).toEqual([expect.objectContaining({ path: 'annotations', key: 'a1', by: expect.objectContaining({ id: 'ada' }) })])
      const { body: fresh } = await call(pair.a.url, 'GET', '/api/sessions/two')
      const landed = await call(pair.a.url, 'POST', '/api/sessions/two/doc', { ops: [{ op: 'resolve', annotationId: 'a1' }], basedOn: fresh.version }, headers)
      expect(landed.status).toBe(201)
      await until(() => readState(ada.doc).annotations.a1?.resolved === true, { what: 'ada on b to see the write made on a' })
      expect(readState(ada.doc).annotations.a1!.text).toBe('edited on b')
    } finally {
      await pair.close()
    }
  })
})
