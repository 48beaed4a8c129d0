/**
 * Proposals end to end against a live server in token mode, with humans on stock y-websocket
 * clients, an agent on the SDK and one on `mnemo mcp` over stdio: a stale write refused, then
 * opened as a proposal with `onConflict: "propose"`; a proposal's diff against the live
 * document; one accepted after a concurrent human edit (the conflict reported), merged as one
 * `doc.update` by the accepter with `meta.causationId`; rejections and withdrawals; the
 * 400/403/404/409 cases; and the proposals read back the same after a restart (the log's fold).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { joinSession, MnemoError, type AgentSession, type Proposal } from '../src/agent/index.js'
import { mintToken } from '../src/auth/tokens.js'
import { loadConfig } from '../src/config.js'
import { startServer, type RunningServer } from '../src/main.js'
import { propose } from '../src/session/decisions.js'
import { diffStates, wordDiff } from '../src/session/proposals.js'
import { readState } from '../src/session/readState.js'
import { annotate, annotationText, select } from '../src/session/write.js'
import type { StoredEvent } from '../src/store/types.js'
import { MNEMO_BIN } from './fixtures/child.js'
import { peer, sessionLog, type Peer } from './fixtures/clients.js'
import { anyBackend, TEST_DATABASE_URL } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'a-proposals-test-secret-of-at-least-32-bytes'
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describe('word diffs and entry diffs', () => {
  it('diffs annotation text word by word, keeping the common start and end', () => {
    expect(wordDiff('latency doubled', 'p99 latency tripled')).toEqual([
      { insert: 'p99 ' }, { equal: 'latency ' }, { delete: 'doubled' }, { insert: 'tripled' },
    ])
    expect(wordDiff('the same', 'the same')).toEqual([{ equal: 'the same' }])
    expect(wordDiff('', 'new text')).toEqual([{ insert: 'new text' }])
    expect(wordDiff('a b c d', 'a c d e')).toEqual([{ equal: 'a ' }, { delete: 'b ' }, { equal: 'c d' }, { insert: ' e' }])
  })

  it('lists every entry that differs, with a text diff for a changed annotation', () => {
    const note = { id: 'a1', target: 'm-1', author: 'ada', createdAt: 1, text: 'latency doubled', resolved: false }
    const before = { selections: { 'm-1': { by: 'ada', at: 1 } }, explorationPath: [], annotations: { a1: note }, decisions: {} }
    const after = {
      selections: {}, explorationPath: [{ memoryId: 'm-2', by: 'nav', at: 2 }],
      annotations: { a1: { ...note, text: 'latency tripled', resolved: true } }, decisions: {},
    }
    expect(diffStates(before, after)).toEqual([
      { path: 'selections', key: 'm-1', change: 'removed', before: { by: 'ada', at: 1 } },
      { path: 'explorationPath', key: 'm-2', change: 'added', index: 0, after: { memoryId: 'm-2', by: 'nav', at: 2 } },
      {
        path: 'annotations', key: 'a1', change: 'changed', before: note, after: { ...note, text: 'latency tripled', resolved: true },
        text: [{ equal: 'latency ' }, { delete: 'doubled' }, { insert: 'tripled' }],
      },
    ])
  })
})

describe('proposals', () => {
  let server: TestServer
  const peers: Peer[] = []
  const sessions: AgentSession[] = []
  let ada: string, bob: string, nav: string, vic: string, scoped: string
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET })
    ada = await mintToken(SECRET, { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor' })
    bob = await mintToken(SECRET, { sub: 'bob', name: 'Bob', kind: 'human', role: 'editor' })
    nav = await mintToken(SECRET, { sub: 'nav', name: 'Navigator', kind: 'agent', role: 'editor', onBehalfOf: 'ada', model: 'm-1' })
    vic = await mintToken(SECRET, { sub: 'vic', name: 'Vic', kind: 'human', role: 'viewer' })
    scoped = await mintToken(SECRET, { sub: 'sam', name: 'Sam', kind: 'human', role: 'editor', can: ['annotations:write', 'proposal.*:append'] })
  }, 60_000)
  afterAll(async () => {
    for (const s of sessions) await s.close()
    for (const p of peers) p.destroy()
    await server.stop()
  })

  const api = (method: string, path: string, token: string, body?: unknown) => call(server.url, method, path, body, bearer(token))
  const human = async (session: string, token = ada) => {
    const p = peer(`${server.url.replace('http', 'ws')}/sync`, session, { token })
    peers.push(p)
    await p.synced()
    return p
  }
  const join = async (session: string, token = nav) => {
    const s = await joinSession({ url: server.url, session, token, run: 'r-1' })
    sessions.push(s)
    return s
  }
  const docUpdates = async (session: string): Promise<StoredEvent[]> =>
    (await sessionLog(server.store, session)).filter((e) => e.type === 'doc.update')
  const stored = (session: string, actor: string, key: string) => until(async () =>
    (await docUpdates(session)).some((e) => e.actor.id === actor && (e.data.changes as Array<{ key: string }>).some((c) => c.key === key)),
  { what: `${actor}'s change of ${key} in the log` })
  const updatesReach = (session: string, count: number) =>
    until(async () => (await docUpdates(session)).length >= count, { what: `${count} doc.update events in ${session}` })
  const getProposal = async (session: string, id: string, token = ada): Promise<Proposal> => {
    const answer = await api('GET', `/api/sessions/${session}/proposals/${id}`, token)
    expect(answer.status).toBe(200)
    return answer.body as Proposal
  }

  it('turns a stale write into a proposal with onConflict: "propose", kept apart from the live document, with its diff', async () => {
    const adaPeer = await human('p1')
    annotate(adaPeer.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'latency doubled' })
    await stored('p1', 'ada', 'a1')
    const agent = await join('p1')
    const { version: read } = await agent.read()
    annotationText(adaPeer.doc, 'a1')!.insert(0, 'p99 ')
    await updatesReach('p1', 2)
    const changed = (await docUpdates('p1')).at(-1)!

    // Without onConflict: refused, nothing stored.
    const refused = await agent.resolve('a1', { basedOn: read }).catch((e: unknown) => e) as MnemoError
    expect(refused).toBeInstanceOf(MnemoError)
    expect(refused.code).toBe('stale_write')

    // With it: a proposal instead (202), the same write kept apart from the document.
    const before = await sessionLog(server.store, 'p1')
    const answer = await agent.writeDocument([
      { op: 'resolve', annotationId: 'a1' },
      { op: 'annotate', target: 'm-1', text: 'the deploy changed the cache key' },
      { op: 'select', memoryId: 'm-2' },
    ], { basedOn: read, onConflict: 'propose', rationale: 'the deploy explains it', title: 'Resolve a1: the deploy' })
    expect(answer.proposal).toEqual({ id: expect.any(String) })
    expect(answer.update).toBeNull()
    const conflict = { path: 'annotations', key: 'a1', by: { id: 'ada', name: 'Ada', kind: 'human' }, version: changed.version, position: changed.position, at: changed.recordedAt }
    expect(answer.conflicts).toEqual([conflict])
    const newNote = answer.entries.find((e) => e.op === 'annotate')!.key
    expect(answer.entries).toEqual([
      { op: 'resolve', path: 'annotations', key: 'a1' },
      { op: 'annotate', path: 'annotations', key: newNote },
      { op: 'select', path: 'selections', key: 'm-2' },
    ])
    const added = (await sessionLog(server.store, 'p1')).slice(before.length).filter((e) => !e.type.startsWith('participant.'))
    expect(added.map((e) => e.type)).toEqual(['proposal.opened'])
    const opened = added[0]!
    expect(opened.id).toBe(answer.proposal!.id)
    expect(opened.version).toBe(answer.version)
    expect(opened.actor).toMatchObject({ id: 'nav', kind: 'agent', onBehalfOf: 'ada', run: 'r-1' })
    expect(opened.data).toEqual({
      title: 'Resolve a1: the deploy', rationale: 'the deploy explains it', basedOn: read,
      ops: [{ op: 'resolve', annotationId: 'a1' }, { op: 'annotate', target: 'm-1', text: 'the deploy changed the cache key', id: newNote }, { op: 'select', memoryId: 'm-2' }],
    })
    expect(readState(adaPeer.doc).annotations.a1!.resolved).toBe(false)
    expect(agent.state().annotations[newNote]).toBeUndefined()

    // Its diff against the live document, entry by entry.
    const proposal = await getProposal('p1', answer.proposal!.id)
    expect(proposal).toMatchObject({
      id: answer.proposal!.id, title: 'Resolve a1: the deploy', status: 'open', rationale: 'the deploy explains it', basedOn: read,
      by: { id: 'nav', kind: 'agent' }, conflicts: [conflict], inapplicable: [],
    })
    const at = Date.parse(proposal.openedAt)
    const live = readState(adaPeer.doc).annotations.a1!
    expect(proposal.diff).toEqual([
      { path: 'selections', key: 'm-2', change: 'added', after: { by: 'nav', at } },
      ...[
        { path: 'annotations', key: 'a1', change: 'changed', before: live, after: { ...live, resolved: true } },
        { path: 'annotations', key: newNote, change: 'added', after: { id: newNote, target: 'm-1', author: 'nav', createdAt: at, text: 'the deploy changed the cache key', resolved: false } },
      ].sort((a, b) => (a.key < b.key ? -1 : 1)),
    ])
    // The same in the list.
    const { body: list } = await api('GET', '/api/sessions/p1/proposals', vic)
    expect(list.proposals).toEqual([proposal])
    expect((await api('GET', '/api/sessions/p1/proposals?status=accepted', vic)).body.proposals).toEqual([])

    // A stale write that can no longer be done stays refused as stale.
    propose(adaPeer.doc, { id: 'd1', question: 'roll back?', options: ['yes', 'no'], quorum: 1, createdBy: 'ada' })
    await stored('p1', 'ada', 'd1')
    const { version: sawDecision } = await agent.read()
    const { rejectDecision } = await import('../src/session/decisions.js')
    rejectDecision(adaPeer.doc, 'd1')
    await until(async () => (await docUpdates('p1')).some((e) => (e.data.changes as Array<{ key: string; fields?: string[] }>).some((c) => c.key === 'd1' && c.fields?.includes('status'))))
    const impossible = await api('POST', '/api/sessions/p1/doc', nav, { ops: [{ op: 'vote', decisionId: 'd1', option: 'yes' }], basedOn: sawDecision, onConflict: 'propose' })
    expect(impossible.status).toBe(409)
    expect(impossible.body.error.code).toBe('stale_write')
    expect((await api('GET', '/api/sessions/p1/proposals', vic)).body.proposals).toHaveLength(1)
  })

  it('accepts a proposal after a concurrent human edit: one doc.update by the accepter, caused by the proposal, the conflict reported', async () => {
    const adaPeer = await human('p2')
    annotate(adaPeer.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'first' })
    select(adaPeer.doc, 'm-1', 'ada')
    await stored('p2', 'ada', 'm-1')
    const agent = await join('p2')
    const { version: read } = await agent.read()
    const { id } = await agent.proposals.open({
      title: 'Tidy up', rationale: 'both are done', basedOn: read,
      ops: [{ op: 'resolve', annotationId: 'a1' }, { op: 'deselect', memoryId: 'm-1' }, { op: 'explore', memoryId: 'm-1', note: 'checked' }],
    })
    // Bob, over HTTP, reselects m-1 after the proposal's base; Ada, on her stock client, edits a1's text.
    const bobWrite = await api('POST', '/api/sessions/p2/doc', bob, { ops: [{ op: 'select', memoryId: 'm-1' }] })
    expect(bobWrite.status).toBe(201)
    const updates = (await docUpdates('p2')).length
    annotationText(adaPeer.doc, 'a1')!.insert(5, ' and second')
    await updatesReach('p2', updates + 1)
    const adaEdit = (await docUpdates('p2')).at(-1)!

    const open = await getProposal('p2', id)
    expect(open.conflicts).toEqual([
      expect.objectContaining({ path: 'annotations', key: 'a1', by: expect.objectContaining({ id: 'ada' }), version: adaEdit.version }),
      expect.objectContaining({ path: 'selections', key: 'm-1', by: expect.objectContaining({ id: 'bob' }), version: bobWrite.body.version }),
    ])
    // The diff is against the live document: Bob's selection is the one removed.
    expect(open.diff.find((d) => d.path === 'selections')).toMatchObject({ key: 'm-1', change: 'removed', before: { by: 'bob' } })

    // An agent may not accept, not even its own.
    const byAgent = await api('POST', `/api/sessions/p2/proposals/${id}/accept`, nav)
    expect(byAgent.status).toBe(403)
    expect(byAgent.body.error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('only a human may accept') })

    const accepted = await api('POST', `/api/sessions/p2/proposals/${id}/accept`, ada, { rationale: 'looks right' })
    expect(accepted.status).toBe(201)
    expect(accepted.body).toMatchObject({ id, status: 'accepted', update: expect.any(String) })
    expect(accepted.body.conflicts).toEqual(open.conflicts)
    // One doc.update by Ada, caused by the proposal, then proposal.accepted, in one append.
    const log = await sessionLog(server.store, 'p2')
    const at = log.findIndex((e) => e.version === accepted.body.version)
    const [update, closed] = [log[at]!, log[at + 1]!]
    expect(update).toMatchObject({ type: 'doc.update', position: accepted.body.position, actor: { id: 'ada', name: 'Ada', kind: 'human' } })
    expect(update.meta).toMatchObject({ causationId: id, rationale: 'looks right' })
    expect(update.data.changes).toEqual(expect.arrayContaining([
      expect.objectContaining({ path: 'annotations', op: 'update', key: 'a1', fields: ['resolved'] }),
      expect.objectContaining({ path: 'selections', op: 'delete', key: 'm-1' }),
      expect.objectContaining({ path: 'explorationPath', op: 'add', key: 'm-1' }),
    ]))
    expect((await docUpdates('p2')).filter((e) => e.meta.causationId === id)).toHaveLength(1)
    expect(closed).toMatchObject({
      type: 'proposal.accepted', version: update.version + 1, actor: { id: 'ada' },
      data: { proposal: id, conflicts: open.conflicts, changed: true }, meta: { causationId: id, rationale: 'looks right' },
    })
    // Everyone sees it, Ada's text edit kept; the step is the author's.
    await until(() => readState(adaPeer.doc).annotations.a1?.resolved === true && readState(adaPeer.doc).selections['m-1'] === undefined,
      { what: 'Ada to see the accepted proposal' })
    expect(readState(adaPeer.doc).annotations.a1!.text).toBe('first and second')
    expect(readState(adaPeer.doc).explorationPath).toEqual([{ memoryId: 'm-1', by: 'nav', at: expect.any(Number), note: 'checked' }])

    const shown = await getProposal('p2', id)
    expect(shown).toMatchObject({ status: 'accepted', closedBy: { id: 'ada' }, closedVersion: closed.version, conflicts: open.conflicts })
    // Once closed, the diff is what it changed: against the document just before the accept.
    expect(shown.diff.map((d) => [d.path, d.key, d.change])).toEqual([
      ['selections', 'm-1', 'removed'], ['explorationPath', 'm-1', 'added'], ['annotations', 'a1', 'changed'],
    ])
    // Closed: neither accepted nor rejected again.
    for (const action of ['accept', 'reject']) {
      const again = await api('POST', `/api/sessions/p2/proposals/${id}/${action}`, bob)
      expect(again.status).toBe(409)
      expect(again.body.error).toMatchObject({ code: 'proposal_closed', status: 'accepted' })
    }
  })

  it('with onConflict: "abort", refuses (409 proposal_conflict) a proposal others changed since, storing nothing', async () => {
    const adaPeer = await human('p3')
    select(adaPeer.doc, 'm-1', 'ada')
    await stored('p3', 'ada', 'm-1')
    const opened = await api('POST', '/api/sessions/p3/proposals', nav, { title: 'Drop m-1', ops: [{ op: 'deselect', memoryId: 'm-1' }] })
    expect(opened.status).toBe(201)
    const { id } = opened.body
    select(adaPeer.doc, 'm-1', 'ada', 5)
    await updatesReach('p3', 2)
    const before = await sessionLog(server.store, 'p3')
    const aborted = await api('POST', `/api/sessions/p3/proposals/${id}/accept`, bob, { onConflict: 'abort' })
    expect(aborted.status).toBe(409)
    expect(aborted.body.error).toMatchObject({
      code: 'proposal_conflict', details: [expect.objectContaining({ path: 'selections', key: 'm-1', by: expect.objectContaining({ id: 'ada' }) })],
    })
    expect((await sessionLog(server.store, 'p3')).filter((e) => !e.type.startsWith('participant.'))).toEqual(before.filter((e) => !e.type.startsWith('participant.')))
    expect((await getProposal('p3', id)).status).toBe('open')

    // Two humans accept at once: exactly one lands.
    const answers = await Promise.all([ada, bob].map((t) => api('POST', `/api/sessions/p3/proposals/${id}/accept`, t)))
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409])
    expect((await sessionLog(server.store, 'p3')).filter((e) => e.type === 'proposal.accepted')).toHaveLength(1)
    expect((await docUpdates('p3')).filter((e) => e.meta.causationId === id)).toHaveLength(1)
    await until(() => readState(adaPeer.doc).selections['m-1'] === undefined, { what: 'the deselection to reach Ada' })
  })

  it('rejects a proposal (a human), or withdraws it (its author); nothing of it reaches the document', async () => {
    const adaPeer = await human('p4')
    annotate(adaPeer.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'note' })
    await stored('p4', 'ada', 'a1')
    const open = (body: unknown) => api('POST', '/api/sessions/p4/proposals', nav, body)
    const first = (await open({ title: 'Resolve', ops: [{ op: 'resolve', annotationId: 'a1' }] })).body.id
    const second = (await open({ title: 'Resolve too', ops: [{ op: 'resolve', annotationId: 'a1' }] })).body.id
    const rejected = await api('POST', `/api/sessions/p4/proposals/${first}/reject`, ada, { rationale: 'not yet' })
    expect(rejected.status).toBe(201)
    expect(rejected.body).toMatchObject({ id: first, status: 'rejected' })
    const event = (await sessionLog(server.store, 'p4')).find((e) => e.type === 'proposal.rejected')!
    expect(event).toMatchObject({ version: rejected.body.version, actor: { id: 'ada' }, data: { proposal: first }, meta: { causationId: first, rationale: 'not yet' } })
    // Another agent may not reject it; its author may withdraw it.
    const other = await mintToken(SECRET, { sub: 'otto', name: 'Otto', kind: 'agent', role: 'editor' })
    expect((await api('POST', `/api/sessions/p4/proposals/${second}/reject`, other)).status).toBe(403)
    expect((await api('POST', `/api/sessions/p4/proposals/${second}/reject`, nav)).status).toBe(201)
    const { body } = await api('GET', '/api/sessions/p4/proposals?status=rejected', vic)
    expect(body.proposals.map((p: Proposal) => [p.id, p.closedBy!.id])).toEqual([[first, 'ada'], [second, 'nav']])
    // A rejected proposal's diff: what it would have done when it was closed.
    expect(body.proposals[0].diff).toEqual([expect.objectContaining({ path: 'annotations', key: 'a1', change: 'changed' })])
    expect(readState(adaPeer.doc).annotations.a1!.resolved).toBe(false)
    expect((await docUpdates('p4')).every((e) => e.actor.id === 'ada' && e.meta.causationId === null)).toBe(true)
  })

  it('answers 400, 403, 404 and 409 as it should', async () => {
    const adaPeer = await human('p5')
    annotate(adaPeer.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'note' })
    propose(adaPeer.doc, { id: 'd1', question: 'q?', options: ['yes', 'no'], quorum: 2, createdBy: 'ada' })
    await stored('p5', 'ada', 'd1')
    const open = (body: unknown, token = nav, session = 'p5') => api('POST', `/api/sessions/${session}/proposals`, token, body)
    const ops = [{ op: 'resolve', annotationId: 'a1' }]

    const problems: Array<[unknown, string, RegExp]> = [
      [{ ops }, 'invalid_request', /^title: is required$/],
      [{ title: '', ops }, 'invalid_request', /^title: must not be empty$/],
      [{ title: 't', ops: [] }, 'invalid_request', /^ops: must have at least 1 items$/],
      [{ title: 't', ops: [{ op: 'select' }] }, 'invalid_request', /^ops\[0\]\.memoryId: is required$/],
      [{ title: 't', ops, extra: 1 }, 'invalid_request', /^extra: unknown field$/],
      [{ title: 't', ops: [{ op: 'resolve', annotationId: 'a9' }] }, 'invalid_operation', /^ops\[0\]: Unknown annotation "a9"$/],
      [{ title: 't', ops, basedOn: 10_000 }, 'invalid_request', /^basedOn: 10000 is after session "p5"'s version \d+$/],
    ]
    for (const [body, code, message] of problems) {
      const answer = await open(body)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(answer.body.error, JSON.stringify(body)).toMatchObject({ code, message: expect.stringMatching(message) })
    }
    const tooBig = await open({ title: 't', ops: Array.from({ length: 10 }, () => ({ op: 'annotate', target: 'm-1', text: 'x'.repeat(9000) })) })
    expect(tooBig.status).toBe(413)

    const { body: { id } } = await open({ title: 'Vote yes', ops: [{ op: 'vote', decisionId: 'd1', option: 'yes' }] })
    // 404s.
    for (const [method, path] of [['GET', '/api/sessions/nope/proposals'], ['GET', `/api/sessions/nope/proposals/${id}`], ['POST', `/api/sessions/nope/proposals/${id}/accept`]] as const) {
      const answer = await api(method, path, ada)
      expect(answer.status, path).toBe(404)
      expect(answer.body.error.code, path).toBe('session_not_found')
    }
    expect((await open({ title: 't', ops }, nav, 'nope')).body.error.code).toBe('session_not_found')
    for (const [method, path] of [['GET', '/api/sessions/p5/proposals/p-none'], ['POST', '/api/sessions/p5/proposals/p-none/accept'], ['POST', '/api/sessions/p5/proposals/p-none/reject']] as const) {
      const answer = await api(method, path, ada)
      expect(answer.status, path).toBe(404)
      expect(answer.body.error.code, path).toBe('proposal_not_found')
    }
    // 400s of accept and of the list.
    expect((await api('POST', `/api/sessions/p5/proposals/${id}/accept`, ada, { onConflict: 'maybe' })).status).toBe(400)
    expect((await api('GET', '/api/sessions/p5/proposals?status=maybe', ada)).status).toBe(400)

    // 403s: a viewer opens, accepts or rejects nothing; a scoped human accepts only what its `can` covers.
    expect((await open({ title: 't', ops }, vic)).status).toBe(403)
    expect((await api('POST', `/api/sessions/p5/proposals/${id}/accept`, vic)).status).toBe(403)
    expect((await api('POST', `/api/sessions/p5/proposals/${id}/reject`, vic)).status).toBe(403)
    const outOfScope = await api('POST', `/api/sessions/p5/proposals/${id}/accept`, scoped)
    expect(outOfScope.status).toBe(403)
    expect(outOfScope.body.error).toMatchObject({ code: 'out_of_scope', message: expect.stringContaining('writes decisions (vote "d1")') })
    const inScope = (await open({ title: 'Resolve', ops }, nav)).body.id
    expect((await api('POST', `/api/sessions/p5/proposals/${inScope}/accept`, scoped)).status).toBe(201)
    // A scoped agent without proposal.opened:append cannot open one, nor turn a stale write into one.
    const narrow = await mintToken(SECRET, { sub: 'nar', name: 'Narrow', kind: 'agent', role: 'editor', can: ['annotations:write'] })
    expect((await open({ title: 't', ops }, narrow)).body.error.code).toBe('out_of_scope')
    expect((await api('POST', '/api/sessions/p5/doc', narrow, { ops, basedOn: 0, onConflict: 'propose' })).body.error.code).toBe('out_of_scope')

    // Nobody forges the proposal events through the generic append.
    for (const type of ['proposal.accepted', 'proposal.opened', 'proposal.rejected']) {
      const forged = await api('POST', '/api/sessions/p5/events', ada, { type, data: { proposal: id } })
      expect(forged.status, type).toBe(400)
      expect(forged.body.error.code, type).toBe('reserved_event_type')
    }
    const batch = await api('POST', '/api/sessions/p5/events', ada, { events: [{ type: 'note.added', data: {} }, { type: 'proposal.accepted', data: { proposal: id } }] })
    expect(batch.status).toBe(400)
    expect((await getProposal('p5', id)).status).toBe('open')

    // A proposal whose operation cannot be done any more: 409 proposal_not_applicable, still open.
    const { rejectDecision } = await import('../src/session/decisions.js')
    rejectDecision(adaPeer.doc, 'd1')
    await until(async () => (await getProposal('p5', id)).inapplicable.length === 1, { what: 'the vote to become impossible' })
    const stuck = await api('POST', `/api/sessions/p5/proposals/${id}/accept`, ada)
    expect(stuck.status).toBe(409)
    expect(stuck.body.error).toMatchObject({ code: 'proposal_not_applicable', message: expect.stringContaining('ops[0]: Decision "d1" is rejected') })
    expect((await getProposal('p5', id)).status).toBe('open')
  })

  it('works through the SDK: an agent opens, lists and reads; a human accepts and sees it at once', async () => {
    const agent = await join('p6')
    await agent.select('m-1')
    await agent.flush()
    const opened = await agent.proposals.open({ title: 'Note it', ops: [{ op: 'annotate', target: 'm-1', text: 'worth a look' }], rationale: 'seen twice' })
    expect(opened).toMatchObject({ id: expect.any(String), ops: [{ op: 'annotate', id: expect.any(String) }] })
    const note = (opened.ops[0] as { id: string }).id
    const [listed] = await agent.proposals.list()
    expect(listed).toMatchObject({ id: opened.id, status: 'open', diff: [{ path: 'annotations', key: note, change: 'added' }] })
    expect(await agent.proposals.get(opened.id)).toEqual(listed)
    const refused = await agent.proposals.accept(opened.id).catch((e: unknown) => e) as MnemoError
    expect(refused).toBeInstanceOf(MnemoError)
    expect([refused.status, refused.code]).toEqual([403, 'forbidden'])
    const missing = await agent.proposals.get('nope').catch((e: unknown) => e) as MnemoError
    expect([missing.status, missing.code]).toEqual([404, 'proposal_not_found'])

    const person = await join('p6', ada)
    const accepted = await person.proposals.accept(opened.id)
    expect(accepted).toMatchObject({ id: opened.id, status: 'accepted', conflicts: [] })
    expect(person.state().annotations[note]).toMatchObject({ author: 'nav', text: 'worth a look' }) // applied at once
    await until(() => agent.state().annotations[note] !== undefined, { what: 'the agent to see the accepted annotation' })
    expect((await agent.proposals.list({ status: 'accepted' })).map((p) => p.id)).toEqual([opened.id])
    const update = (await docUpdates('p6')).at(-1)!
    expect(update).toMatchObject({ actor: { id: 'ada', kind: 'human' }, meta: { causationId: opened.id, rationale: 'seen twice' } })
    // The provider does not send the applied update back.
    await person.flush()
    expect((await docUpdates('p6')).filter((e) => e.actor.id === 'ada')).toHaveLength(1)
  })

  it('works through MCP (mnemo mcp over stdio): propose_changes, list/get, a stale write proposed, accept refused to the agent, withdrawn', async () => {
    const adaPeer = await human('p7')
    annotate(adaPeer.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'first' })
    await stored('p7', 'ada', 'a1')
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MNEMO_BIN, 'mcp', '--url', server.url, '--session', 'p7', '--run', 'mcp-run'],
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', MNEMO_TOKEN: nav, LOG_LEVEL: 'silent' },
      stderr: 'pipe',
    })
    const client = new Client({ name: 'proposals-test', version: '1.0.0' })
    await client.connect(transport)
    try {
      const text = (r: unknown) => ((r as CallToolResult).content[0] as { text: string }).text
      const use = async (name: string, args: Record<string, unknown> = {}) => {
        const result = await client.callTool({ name, arguments: args }) as CallToolResult
        if (result.isError) throw new Error(`${name} failed: ${text(result)}`)
        return JSON.parse(text(result))
      }
      const { tools } = await client.listTools()
      expect(tools.find((t) => t.name === 'propose_changes')!.inputSchema).toMatchObject({ type: 'object', required: ['title', 'ops'] })
      const state = await use('get_state')
      const opened = await use('propose_changes', { title: 'Resolve a1', ops: [{ op: 'resolve', annotationId: 'a1' }], rationale: 'done', basedOn: state.version })
      expect(opened.id).toEqual(expect.any(String))
      expect((await use('list_proposals', { status: 'open' })).map((p: Proposal) => p.id)).toEqual([opened.id])
      expect(await use('get_proposal', { proposalId: opened.id })).toMatchObject({
        title: 'Resolve a1', by: { id: 'nav', run: 'mcp-run' }, diff: [{ path: 'annotations', key: 'a1', change: 'changed' }],
      })
      const refused = await client.callTool({ name: 'accept_proposal', arguments: { proposalId: opened.id } }) as CallToolResult
      expect(refused.isError).toBe(true)
      expect(text(refused)).toContain('only a human may accept')

      // A stale write with onConflict: the tool answers the proposal it became.
      annotationText(adaPeer.doc, 'a1')!.insert(5, ', then more')
      await updatesReach('p7', 2)
      const proposed = await use('resolve_annotation', { annotationId: 'a1', basedOn: state.version, onConflict: 'propose' })
      expect(proposed).toMatchObject({ proposal: expect.any(String), conflicts: [expect.objectContaining({ key: 'a1', by: expect.objectContaining({ id: 'ada' }) })] })
      expect(await use('reject_proposal', { proposalId: opened.id, rationale: 'the other one is newer' })).toMatchObject({ id: opened.id, status: 'rejected' })
      const all = await use('list_proposals')
      expect(all.map((p: Proposal) => [p.id, p.status])).toEqual([[opened.id, 'rejected'], [proposed.proposal, 'open']])
    } finally {
      await client.close()
    }
  }, 60_000)
})

describe('proposals across a restart', () => {
  let first: TestServer
  let second: RunningServer | undefined
  let dataDir: string | undefined
  beforeAll(async () => {
    dataDir = TEST_DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'mnemo-proposals-'))
    first = await startTestServer(anyBackend, { MNEMO_AUTH_SECRET: SECRET, ...(dataDir ? { MNEMO_DATA_DIR: dataDir } : {}) })
  })
  afterAll(async () => {
    await second?.close()
    await first.stop()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('lists the same proposals after the server restarts: they are the fold of the log', async () => {
    const ada = await mintToken(SECRET, { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor' })
    const nav = await mintToken(SECRET, { sub: 'nav', name: 'Navigator', kind: 'agent', role: 'editor' })
    const api = (base: string, method: string, path: string, token: string, body?: unknown) => call(base, method, path, body, bearer(token))
    await api(first.url, 'POST', '/api/sessions', ada, { id: 'r1' })
    await api(first.url, 'POST', '/api/sessions/r1/doc', ada, { ops: [{ op: 'annotate', target: 'm-1', text: 'note', id: 'a1' }, { op: 'select', memoryId: 'm-1' }] })
    const open = async (title: string, ops: unknown[]) => (await api(first.url, 'POST', '/api/sessions/r1/proposals', nav, { title, ops })).body.id as string
    const accepted = await open('Resolve', [{ op: 'resolve', annotationId: 'a1' }])
    const rejected = await open('Deselect', [{ op: 'deselect', memoryId: 'm-1' }])
    await open('Explore', [{ op: 'explore', memoryId: 'm-2' }])
    await api(first.url, 'POST', '/api/sessions/r1/doc', ada, { ops: [{ op: 'select', memoryId: 'm-1' }] })
    expect((await api(first.url, 'POST', `/api/sessions/r1/proposals/${accepted}/accept`, ada)).status).toBe(201)
    expect((await api(first.url, 'POST', `/api/sessions/r1/proposals/${rejected}/reject`, ada)).status).toBe(201)
    const { body: beforeRestart } = await api(first.url, 'GET', '/api/sessions/r1/proposals', ada)
    expect(beforeRestart.proposals.map((p: Proposal) => p.status)).toEqual(['accepted', 'rejected', 'open'])

    await first.close()
    second = await startServer(loadConfig({ ...first.env, PORT: '0' }))
    const { body: afterRestart } = await api(second.url, 'GET', '/api/sessions/r1/proposals', ada)
    expect(afterRestart).toEqual(beforeRestart)
    // And the open one can still be accepted there.
    const open3 = afterRestart.proposals[2].id
    expect((await api(second.url, 'POST', `/api/sessions/r1/proposals/${open3}/accept`, ada)).status).toBe(201)
  })
})
