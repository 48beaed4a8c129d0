/**
 * The control tools of issue 14 over MCP's Streamable HTTP (`/mcp`), called by MCP clients of
 * the official SDK with bearer tokens against a live server, beside a human on a stock
 * y-websocket client: an agent's proposal accepted by a human over the human's own MCP session
 * (in the live document, as one `doc.update` caused by the proposal) and another rejected; an
 * agent's run taken back with `revert_run` (dry, then for real) keeping the human's edits, with
 * `blame` and `activity` naming who did what.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Activity, BlameEntry, Proposal, RunRevert } from '../src/agent/index.js'
import { mintToken } from '../src/auth/tokens.js'
import { readState } from '../src/session/readState.js'
import { annotate, annotationText, explore, select } from '../src/session/write.js'
import type { StoredEvent } from '../src/store/types.js'
import { peer, sessionLog, type Peer } from './fixtures/clients.js'
import { withoutRun } from './fixtures/revertOracle.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'

const SECRET = 'an-mcp-http-control-test-secret-of-32-bytes'

const text = (result: CallToolResult) => (result.content[0] as { text: string }).text

interface Connected {
  /** Calls a tool and parses the JSON it answers; a tool error fails the test with its text. */
  use(name: string, args?: Record<string, unknown>): Promise<any>
  /** Calls a tool and answers its raw result, errors included. */
  raw(name: string, args?: Record<string, unknown>): Promise<CallToolResult>
  end(): Promise<void>
}

async function connect(server: TestServer, token: string, query: string): Promise<Connected> {
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp${query}`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  })
  const client = new Client({ name: 'mnemo-http-control-test', version: '1.0.0' })
  await client.connect(transport)
  const raw = async (name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult
  return {
    raw,
    async use(name, args) {
      const result = await raw(name, args)
      if (result.isError) throw new Error(`${name} failed: ${text(result)}`)
      return JSON.parse(text(result))
    },
    async end() {
      await transport.terminateSession()
      await client.close()
    },
  }
}

describe('MCP over Streamable HTTP: proposals, reverting a run, blame and activity', () => {
  let server: TestServer
  let agent: string
  let human: string
  const open: Array<{ end(): unknown }> = []
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const wsBase = () => `${server.url.replace('http', 'ws')}/sync`
  const docUpdates = async (session: string): Promise<StoredEvent[]> => (await sessionLog(server.store, session)).filter((e) => e.type === 'doc.update')

  /** A new session, with Ada on it on a stock y-websocket client. */
  async function humanPeer(session: string): Promise<Peer> {
    expect((await call(server.url, 'POST', '/api/sessions', { id: session }, bearer(human))).status).toBe(201)
    const ada = peer(wsBase(), session, { token: human })
    open.push({ end: () => ada.destroy() })
    await ada.synced()
    return ada
  }
  async function mcpAs(token: string, query: string): Promise<Connected> {
    const mcp = await connect(server, token, query)
    open.push(mcp)
    return mcp
  }
  /** Runs a human edit on the peer and waits until it is stored. */
  async function humanEdit(ada: Peer, session: string, edit: () => void): Promise<void> {
    const before = (await docUpdates(session)).length
    edit()
    await until(async () => (await docUpdates(session)).length === before + 1, { what: 'Ada\'s edit in the log' })
  }

  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET })
    agent = await mintToken(SECRET, { sub: 'desk-bot', name: 'Desk bot', kind: 'agent', role: 'editor', onBehalfOf: 'ada' })
    human = await mintToken(SECRET, { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor' })
  }, 60_000)
  afterAll(async () => {
    for (const one of open.reverse()) await Promise.resolve(one.end()).catch(() => {})
    await server?.stop()
  })

  it('an agent proposes changes; a human accepts one over its own MCP session into the live document, and rejects another', async () => {
    const session = 'mc-prop'
    const ada = await humanPeer(session)
    await humanEdit(ada, session, () => void annotate(ada.doc, { id: 'a1', target: 'm-1', author: 'ada', text: 'why is the cache cold?' }))

    const bot = await mcpAs(agent, `?session=${session}&run=prop-run`)
    const { version } = await bot.use('get_state')
    const opened = await bot.use('propose_changes', {
      title: 'Close the cache question', rationale: 'the deploy explains it', basedOn: version,
      ops: [{ op: 'resolve', annotationId: 'a1' }, { op: 'select', memoryId: 'm-1' }, { op: 'annotate', target: 'm-1', text: 'the cache key changed in the deploy' }],
    })
    expect(opened).toMatchObject({ id: expect.any(String), version: expect.any(Number), position: expect.any(Number) })
    expect(opened.ops).toMatchObject([{ op: 'resolve' }, { op: 'select' }, { op: 'annotate', id: expect.any(String) }])
    const note: string = opened.ops[2].id

    const proposal: Proposal = await bot.use('get_proposal', { proposalId: opened.id })
    expect(proposal).toMatchObject({
      id: opened.id, title: 'Close the cache question', rationale: 'the deploy explains it', status: 'open', basedOn: version,
      by: { id: 'desk-bot', kind: 'agent', run: 'prop-run' }, conflicts: [],
    })
    expect(proposal.diff.map((d) => [d.path, d.key, d.change]).sort()).toEqual([
      ['annotations', 'a1', 'changed'], ['annotations', note, 'added'], ['selections', 'm-1', 'added'],
    ].sort())
    expect((await bot.use('list_proposals', { status: 'open' })).map((p: Proposal) => p.id)).toEqual([opened.id])
    // Kept apart: nothing of it is live yet.
    expect(Object.keys(readState(ada.doc).selections)).toEqual([])
    expect(Object.keys(readState(ada.doc).annotations)).toEqual(['a1'])
    expect(readState(ada.doc).annotations.a1).toMatchObject({ resolved: false })
    expect(await bot.use('get_state')).toMatchObject({ selections: {}, annotations: { a1: { resolved: false } } })
    expect(Object.keys((await bot.use('get_state')).annotations)).toEqual(['a1'])

    // The agent may not accept it, even over HTTP; Ada, over her own MCP session, does.
    const refused = await bot.raw('accept_proposal', { proposalId: opened.id })
    expect(refused.isError).toBe(true)
    expect(text(refused)).toContain('only a human may accept')
    const reviewer = await mcpAs(human, `?session=${session}`)
    const accepted = await reviewer.use('accept_proposal', { proposalId: opened.id, rationale: 'reviewed: right' })
    expect(accepted).toMatchObject({ id: opened.id, status: 'accepted', version: expect.any(Number), position: expect.any(Number), conflicts: [] })

    // In the live document, as Ada's stock client sees it.
    await until(() => readState(ada.doc).annotations[note] !== undefined && readState(ada.doc).annotations.a1?.resolved === true, {
      what: 'the accepted proposal in the live document', explain: () => readState(ada.doc),
    })
    const live = readState(ada.doc)
    expect(Object.keys(live.selections)).toEqual(['m-1'])
    expect(live.annotations[note]).toMatchObject({ target: 'm-1', author: 'desk-bot', text: 'the cache key changed in the deploy', resolved: false })
    const { body: state } = await call(server.url, 'GET', `/api/sessions/${session}`, undefined, bearer(human))
    expect(state.state).toEqual(live)

    // In the log: opened by the agent, accepted by Ada, merged as one doc.update by Ada caused by the proposal.
    const log = await sessionLog(server.store, session)
    expect(log.filter((e) => e.type === 'proposal.opened')).toMatchObject([
      { id: opened.id, actor: { id: 'desk-bot', kind: 'agent', run: 'prop-run' }, data: { title: 'Close the cache question', basedOn: version } },
    ])
    expect(log.filter((e) => e.type === 'proposal.accepted')).toMatchObject([
      { actor: { id: 'ada', kind: 'human' }, data: { proposal: opened.id, conflicts: [] }, meta: { causationId: opened.id, rationale: 'reviewed: right' } },
    ])
    const caused = log.filter((e) => e.type === 'doc.update' && e.meta?.causationId === opened.id)
    expect(caused).toHaveLength(1)
    expect(caused[0]).toMatchObject({ actor: { id: 'ada', kind: 'human' }, version: accepted.version, position: accepted.position })
    expect((caused[0]!.data as { changes: Array<{ path: string; key: string }> }).changes.map((c) => `${c.path}/${c.key}`).sort())
      .toEqual([`annotations/${note}`, 'annotations/a1', 'selections/m-1'].sort())

    // A second proposal, rejected by Ada: recorded, and nothing of it reaches the document.
    const second = await bot.use('propose_changes', { title: 'Drop m-1', ops: [{ op: 'deselect', memoryId: 'm-1' }] })
    const rejected = await reviewer.use('reject_proposal', { proposalId: second.id, rationale: 'we still need it' })
    expect(rejected).toMatchObject({ id: second.id, status: 'rejected', version: expect.any(Number), position: expect.any(Number) })
    const after = await sessionLog(server.store, session)
    expect(after.filter((e) => e.type === 'proposal.rejected')).toMatchObject([
      { actor: { id: 'ada', kind: 'human' }, data: { proposal: second.id }, meta: { rationale: 'we still need it' }, position: rejected.position },
    ])
    expect(after.some((e) => e.type === 'doc.update' && e.meta?.causationId === second.id)).toBe(false)
    expect((await reviewer.use('list_proposals')).map((p: Proposal) => [p.id, p.status])).toEqual([[opened.id, 'accepted'], [second.id, 'rejected']])
    expect(await bot.use('get_proposal', { proposalId: second.id })).toMatchObject({ status: 'rejected', closedBy: { id: 'ada' } })
    expect(Object.keys((await reviewer.use('get_state')).selections)).toEqual(['m-1'])
    expect(Object.keys(readState(ada.doc).selections)).toEqual(['m-1'])
  })

  it('reverts an agent\'s run (dry, then for real) keeping the human\'s edits; blame and activity name who did what', async () => {
    const session = 'mc-run'
    const RUN = 'bot-run-1'
    const ada = await humanPeer(session)
    // Before the run: Ada selects m-keep (the agent will deselect it) and notes m-h.
    await humanEdit(ada, session, () => select(ada.doc, 'm-keep', 'ada'))
    let adaNote = ''
    await humanEdit(ada, session, () => void (adaNote = annotate(ada.doc, { target: 'm-h', author: 'ada', text: 'looks fine' })))

    // The run: four edits through the MCP tools.
    const bot = await mcpAs(agent, `?session=${session}&run=${RUN}`)
    expect(await bot.use('select_memory', { memoryId: 'm-a', rationale: 'the newest report' })).toEqual({ selected: 'm-a' })
    const { annotationId: botNote } = await bot.use('annotate_memory', { target: 'm-b', text: 'an outage of the billing queue', rationale: 'seen in the logs' })
    expect(await bot.use('explore_memory', { memoryId: 'm-c', note: 'followed the trail' })).toEqual({ explored: 'm-c' })
    // With basedOn the write goes over HTTP (its rationale in the doc.update's meta); the others over sync (an agent.rationale beside).
    const { version: read } = await bot.use('get_state')
    expect(await bot.use('deselect_memory', { memoryId: 'm-keep', rationale: 'not relevant', basedOn: read })).toEqual({ deselected: 'm-keep' })
    await until(async () => (await docUpdates(session)).filter((e) => e.actor.run === RUN).length === 4, { what: 'the run\'s 4 edits in the log' })
    const rationales = async () => (await sessionLog(server.store, session)).filter((e) => e.type === 'agent.rationale').map((e) => (e.data as { key: string }).key)
    await until(async () => (await rationales()).sort().join() === ['m-a', botNote].sort().join(), {
      what: 'the rationales of the run\'s edits over sync in the log', explain: rationales,
    })
    await until(() => {
      const seen = readState(ada.doc)
      return 'm-a' in seen.selections && botNote in seen.annotations && seen.explorationPath.length === 1 && !('m-keep' in seen.selections)
    }, { what: 'Ada to see the run', explain: () => readState(ada.doc) })

    // Ada, after the run: selects m-h, explores m-d, and writes into the agent's annotation.
    await humanEdit(ada, session, () => select(ada.doc, 'm-h', 'ada'))
    await humanEdit(ada, session, () => explore(ada.doc, { memoryId: 'm-d', by: 'ada', note: 'my own step' }))
    await humanEdit(ada, session, () => annotationText(ada.doc, botNote)!.insert(0, 'Ada: '))
    // Ada edits through the HTTP door too.
    const viaHttp = await call(server.url, 'POST', `/api/sessions/${session}/doc`, { ops: [{ op: 'select', memoryId: 'm-http' }] }, bearer(human))
    expect(viaHttp.status).toBe(201)

    // Blame and activity, before the revert.
    const reviewer = await mcpAs(human, `?session=${session}`)
    const blame: { entries: BlameEntry[] } = await reviewer.use('blame')
    const entry = (path: string, key: string) => blame.entries.find((e) => e.path === path && e.key === key)
    expect(entry('selections', 'm-h')).toMatchObject({ createdBy: { id: 'ada', kind: 'human' }, lastChangedBy: { id: 'ada', kind: 'human' } })
    expect(entry('selections', 'm-h')!.createdBy).not.toHaveProperty('run')
    expect(entry('annotations', adaNote)).toMatchObject({ createdBy: { id: 'ada' }, lastChangedBy: { id: 'ada' } })
    expect(entry('selections', 'm-a')).toMatchObject({ createdBy: { id: 'desk-bot', kind: 'agent', run: RUN }, run: RUN, rationale: 'the newest report' })
    expect(entry('annotations', botNote)).toMatchObject({ createdBy: { id: 'desk-bot', run: RUN }, lastChangedBy: { id: 'ada' } })
    expect(entry('selections', 'm-keep')).toBeUndefined() // deselected by the run
    // Over the agent's own MCP session, blame says the same.
    expect((await bot.use('blame')).entries).toEqual(blame.entries)

    const activity: Activity = await reviewer.use('activity', { run: RUN })
    expect(activity.next).toBeNull()
    expect(activity.groups).toHaveLength(1)
    const [group] = activity.groups
    expect(group).toMatchObject({ actor: { id: 'desk-bot', kind: 'agent', onBehalfOf: 'ada', run: RUN }, run: RUN })
    expect(group!.changes.map((c) => [c.path, c.op, c.key])).toEqual([
      ['selections', 'add', 'm-a'], ['annotations', 'add', botNote], ['explorationPath', 'add', 'm-c'], ['selections', 'delete', 'm-keep'],
    ])
    expect(group!.changes[3]).toMatchObject({ rationale: 'not relevant' })
    const everyone: Activity = await reviewer.use('activity', {})
    expect(everyone.groups.map((g) => [g.actor.id, g.run])).toEqual(expect.arrayContaining([['desk-bot', RUN], ['ada', null]]))
    expect((await reviewer.use('activity', { actor: 'ada' })).groups.every((g: { actor: { id: string } }) => g.actor.id === 'ada')).toBe(true)

    // The oracle: the document built from the log without the run.
    const updates = await docUpdates(session)
    expect(updates.filter((e) => e.actor.run === RUN)).toHaveLength(4)
    const want = withoutRun(updates.map((e) => ({ update: e.payload!, inRun: e.actor.run === RUN })))
    expect(Object.keys(want.selections).sort()).toEqual(['m-h', 'm-http', 'm-keep'])
    expect(want.explorationPath).toMatchObject([{ memoryId: 'm-d', by: 'ada', note: 'my own step' }])
    expect(Object.keys(want.annotations)).toEqual([adaNote])

    // A dry run (the agent's own, then Ada's) stores nothing and says what would change.
    const logLength = (await sessionLog(server.store, session)).length
    const dry: RunRevert = await reviewer.use('revert_run', { run: RUN, dryRun: true })
    expect(dry).toMatchObject({ run: RUN, dryRun: true, updates: 4, memoryEvents: 0 })
    expect(dry.diff.map((d) => [d.path, d.key, d.change]).sort()).toEqual([
      ['annotations', botNote, 'removed'], ['explorationPath', 'm-c', 'removed'], ['selections', 'm-a', 'removed'], ['selections', 'm-keep', 'added'],
    ].sort())
    expect(dry.touchedByOthers).toMatchObject([{ path: 'annotations', key: botNote, by: { id: 'ada' } }])
    expect((await bot.use('revert_run', { run: RUN, dryRun: true })).diff).toEqual(dry.diff)
    expect((await sessionLog(server.store, session)).length).toBe(logLength)

    // For real, by Ada over MCP: one doc.update by her, caused by run.reverted.
    const done: RunRevert = await reviewer.use('revert_run', { run: RUN, rationale: 'the agent misread the logs' })
    expect(done).toMatchObject({ run: RUN, dryRun: false, updates: 4, memoryEvents: 0, diff: dry.diff, event: expect.any(String) })
    const log = await sessionLog(server.store, session)
    expect(log).toHaveLength(logLength + 2)
    const [update, reverted] = log.slice(-2)
    expect(reverted).toMatchObject({ id: done.event, type: 'run.reverted', data: { run: RUN }, actor: { id: 'ada', kind: 'human' }, meta: { rationale: 'the agent misread the logs' } })
    expect(update).toMatchObject({ type: 'doc.update', actor: { id: 'ada', kind: 'human' }, meta: { causationId: done.event }, version: done.version })

    // Exactly the run's edits are gone, Ada's stay: on her stock client, over HTTP and over MCP.
    await until(() => JSON.stringify(readState(ada.doc)) === JSON.stringify(want), { what: 'Ada to see the revert', explain: () => readState(ada.doc) })
    expect((await call(server.url, 'GET', `/api/sessions/${session}`, undefined, bearer(human))).body.state).toEqual(want)
    const { version: _version, ...afterRevert } = await reviewer.use('get_state')
    expect(afterRevert).toEqual(want)
    // Blame after: Ada's entries are still hers; the revert restored m-keep in her name.
    const later: { entries: BlameEntry[] } = await reviewer.use('blame')
    expect(later.entries.find((e) => e.path === 'selections' && e.key === 'm-h')).toMatchObject({ createdBy: { id: 'ada' }, lastChangedBy: { id: 'ada' } })
    expect(later.entries.some((e) => e.createdBy?.run === RUN && e.lastChangedBy?.run === RUN)).toBe(false)
    // A second revert of the run is refused.
    const again = await reviewer.raw('revert_run', { run: RUN })
    expect(again.isError).toBe(true)
    expect(text(again)).toContain('run_already_reverted')
  })
})
