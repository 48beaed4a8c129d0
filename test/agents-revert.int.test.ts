/**
 * Undo one run, end to end against a live server with tokens: an agent's run of 50 edits
 * (SDK, over sync) interleaved with 50 edits of a human on a stock y-websocket client — some
 * on the agent's entries, some the agent's on the human's — reverted, leaving exactly what the
 * human did: the live document equals the oracle (the document built from the log as if the
 * run had never been). A dry run stores nothing; the run's memory events leave the graph,
 * search and context (and stay out after a rebuild), but stay in the log; refusals.
 */
import * as prng from 'lib0/prng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { joinSession, type AgentSession, type RunRevert } from '../src/agent/index.js'
import { mintToken } from '../src/auth/tokens.js'
import { rebuildProjection } from '../src/memory/projection.js'
import { vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import { getAnnotations, getDecisions, getExplorationPath, getSelections } from '../src/session/roots.js'
import { annotate, annotationText, deselect, explore, select } from '../src/session/write.js'
import type { StoredEvent } from '../src/store/types.js'
import { startTestApp, type TestApp } from './fixtures/app.js'
import { sessionLog } from './fixtures/clients.js'
import { withoutRun } from './fixtures/revertOracle.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'
import { until } from './fixtures/until.js'
import { mcpTools } from './fixtures/mcp.js'

const SECRET = 'a-revert-test-secret-that-is-at-least-32-bytes'
const SESSION = 'rv1'
const RUN = 'r-bot'

describe('reverting one run', () => {
  let server: TestServer
  let human: { doc: Y.Doc; provider: WebsocketProvider }
  let bot: AgentSession
  let tokens: Record<'alice' | 'bot' | 'spy' | 'viewer' | 'scoped', string>
  const as = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who]}` })
  const revert = (who: keyof typeof tokens, body?: unknown, run = RUN, session = SESSION) =>
    call(server.url, 'POST', `/api/sessions/${session}/runs/${encodeURIComponent(run)}/revert`, body, as(who))
  const docUpdates = async (): Promise<StoredEvent[]> => (await sessionLog(server.store, SESSION)).filter((e) => e.type === 'doc.update')
  /** Both replicas hold the same: everything stored reached both. */
  const inStep = () => Buffer.from(Y.encodeStateVector(human.doc)).equals(Buffer.from(Y.encodeStateVector(bot.doc)))

  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET })
    tokens = {
      alice: await mintToken(SECRET, { sub: 'alice', name: 'Alice', kind: 'human', role: 'editor' }),
      bot: await mintToken(SECRET, { sub: 'bot', name: 'Bot', kind: 'agent', role: 'editor', onBehalfOf: 'alice', run: RUN }),
      spy: await mintToken(SECRET, { sub: 'spy', name: 'Spy', kind: 'agent', role: 'editor' }),
      viewer: await mintToken(SECRET, { sub: 'vic', name: 'Vic', kind: 'human', role: 'viewer' }),
      scoped: await mintToken(SECRET, { sub: 'sam', name: 'Sam', kind: 'human', role: 'editor', can: ['annotations:write'] }),
    }
    expect((await call(server.url, 'POST', '/api/sessions', { id: SESSION }, as('alice'))).status).toBe(201)
    const doc = new Y.Doc()
    human = {
      doc,
      provider: new WebsocketProvider(`${server.url.replace('http', 'ws')}/sync`, SESSION, doc, {
        WebSocketPolyfill: WebSocket as never, disableBc: true, params: { token: tokens.alice }, maxBackoffTime: 300,
      }),
    }
    await until(() => human.provider.synced, { what: 'alice to sync' })
    bot = await joinSession({ url: server.url, session: SESSION, token: tokens.bot })

    // 50 edits each, in a seeded order; each lands in the log, and reaches the other, before the next.
    const gen = prng.create(1403)
    const memory = () => `m-${prng.int32(gen, 1, 6)}`
    const botEdits = botEditor(gen, memory)
    const humanEdits = humanEditor(gen, memory)
    const order: Array<'bot' | 'human'> = [...Array(50).fill('bot'), ...Array(50).fill('human')]
    for (let i = order.length - 1; i > 0; i--) {
      const j = prng.int32(gen, 0, i)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    for (const who of order) {
      const before = (await docUpdates()).length
      await (who === 'bot' ? botEdits() : humanEdits())
      await until(async () => (await docUpdates()).length === before + 1, { what: `${who}'s edit in the log` })
      await until(inStep, { what: 'both replicas in step' })
    }

    // Memories: two of the run's (one connected to alice's), one of alice's.
    await call(server.url, 'POST', `/api/sessions/${SESSION}/events`, {
      type: 'memory.formed', data: { memoryId: 'mem-alice', content: 'the cache key changed in the deploy' },
    }, as('alice'))
    await bot.formMemory({ memoryId: 'mem-bot', content: 'a hallucinated outage of the billing queue', importance: 0.2 })
    await bot.connect('mem-bot', 'mem-alice', 0.9)
  }, 120_000)

  afterAll(async () => {
    await bot?.close()
    human?.provider.destroy()
    human?.doc.destroy()
    await server?.stop()
  })

  function botEditor(gen: prng.PRNG, memory: () => string) {
    return async () => {
      const annotations = [...getAnnotations(bot.doc).keys()].filter((id) => readState(bot.doc).annotations[id]?.resolved === false)
      const selected = [...getSelections(bot.doc).keys()]
      const open = Object.values(readState(bot.doc).decisions).filter((d) => d.status === 'open')
      const pick = prng.int32(gen, 0, 6)
      if (pick === 1 && selected.length > 0) return bot.deselect(prng.oneOf(gen, selected))
      if (pick === 2) return bot.explore(memory(), 'the agent looked here')
      if (pick === 3) return void (await bot.annotate(memory(), 'the agent thinks so'))
      if (pick === 4 && annotations.length > 0) return bot.resolve(prng.oneOf(gen, annotations))
      if (pick === 5) return void (await bot.propose({ question: 'roll back?', options: ['yes', 'no'], quorum: 99 }))
      if (pick === 6 && open.length > 0) return bot.vote(prng.oneOf(gen, open).id, prng.bool(gen) ? 'yes' : 'no')
      return bot.select(memory())
    }
  }

  function humanEditor(gen: prng.PRNG, memory: () => string) {
    let n = 0
    return async () => {
      const doc = human.doc
      const annotations = [...getAnnotations(doc).keys()]
      const selected = [...getSelections(doc).keys()]
      const open = Object.values(readState(doc).decisions).filter((d) => d.status === 'open')
      const path = getExplorationPath(doc)
      const pick = prng.int32(gen, 0, 6)
      n += 1
      if (pick === 1 && selected.length > 0) return deselect(doc, prng.oneOf(gen, selected))
      if (pick === 2) return explore(doc, { memoryId: memory(), by: 'alice', note: `step ${n}` })
      if (pick === 3) return void annotate(doc, { target: memory(), author: 'alice', text: `alice ${n}` })
      // Into anyone's annotation (the agent's too).
      if (pick === 4 && annotations.length > 0) return annotationText(doc, prng.oneOf(gen, annotations))!.insert(0, `${n}: `)
      if (pick === 5 && open.length > 0) return vote(doc, prng.oneOf(gen, open).id, 'alice', prng.bool(gen) ? 'yes' : 'no')
      if (pick === 6 && path.length > 0) return path.delete(prng.int32(gen, 0, path.length - 1), 1)
      return select(doc, memory(), 'alice')
    }
  }

  it('dry-runs: answers the diff and stores nothing', async () => {
    const before = (await sessionLog(server.store, SESSION)).length
    const dry = await revert('alice', { dryRun: true })
    expect(dry.status).toBe(200)
    const answer = dry.body as RunRevert
    expect(answer).toMatchObject({ run: RUN, dryRun: true, updates: 50, memoryEvents: 2 })
    expect(answer.diff.length).toBeGreaterThan(0)
    for (const entry of answer.diff) expect(['added', 'changed', 'removed']).toContain(entry.change)
    expect((await sessionLog(server.store, SESSION)).length).toBe(before)
    // The agent may look at its own run; the SDK and the MCP tool say the same.
    expect((await bot.revertRun(RUN, { dryRun: true })).diff).toEqual(answer.diff)
    const tools = await mcpTools(bot)
    try {
      expect((await tools.json('revert_run', { run: RUN, dryRun: true })).diff).toEqual(answer.diff)
      expect((await tools.call('revert_run', { run: 'r-never', dryRun: true })).isError).toBe(true)
    } finally {
      await tools.close()
    }
    expect((await sessionLog(server.store, SESSION)).length).toBe(before)
  })

  it('refuses what it must: 400, 403, 404', async () => {
    expect((await revert('alice', { dryRun: 'yes' })).body.error.code).toBe('invalid_request')
    expect((await revert('alice', { dryRun: true, force: true })).status).toBe(400)
    expect((await call(server.url, 'POST', `/api/sessions/${SESSION}/runs/${RUN}/revert`, 'not json', { ...as('alice'), 'content-type': 'application/json' })).status).toBe(400)
    expect((await revert('spy')).status).toBe(403) // an agent, not its run
    expect((await revert('viewer')).status).toBe(403)
    expect((await revert('scoped')).body.error.code).toBe('out_of_scope')
    const noSession = await revert('alice', {}, RUN, 'nope')
    expect([noSession.status, noSession.body.error.code]).toEqual([404, 'session_not_found'])
    const noRun = await revert('alice', {}, 'r-never')
    expect([noRun.status, noRun.body.error.code]).toEqual([404, 'run_not_found'])
    // Nobody forges a revert through the events API.
    const forged = await call(server.url, 'POST', `/api/sessions/${SESSION}/events`, { type: 'run.reverted', data: { run: RUN } }, as('alice'))
    expect([forged.status, forged.body.error.code]).toEqual([400, 'reserved_event_type'])
  })

  it('takes the run back, leaving exactly the human\'s edits, as one update by the caller', async () => {
    const updates = await docUpdates()
    expect(updates.filter((e) => e.actor.run === RUN)).toHaveLength(50)
    const want = withoutRun(updates.map((e) => ({ update: e.payload!, inRun: e.actor.run === RUN })))

    const done = await revert('alice', { rationale: 'the agent misread the logs' })
    expect(done.status).toBe(201)
    const answer = done.body as RunRevert
    expect(answer).toMatchObject({ run: RUN, dryRun: false, updates: 50, memoryEvents: 2 })

    const log = await sessionLog(server.store, SESSION)
    const [update, reverted] = log.slice(-2)
    expect(reverted).toMatchObject({ id: answer.event, type: 'run.reverted', data: { run: RUN }, actor: { id: 'alice' }, meta: { rationale: 'the agent misread the logs' } })
    expect(update).toMatchObject({ type: 'doc.update', actor: { id: 'alice' }, meta: { causationId: answer.event }, version: answer.version })

    // Everyone's replica gets it; each equals the document without the run.
    await until(() => JSON.stringify(readState(human.doc)) === JSON.stringify(want), { what: 'alice to see the revert', explain: () => readState(human.doc) })
    await until(inStep, { what: 'the agent to see it too' })
    expect(readState(bot.doc)).toEqual(want)
    const { state } = (await call(server.url, 'GET', `/api/sessions/${SESSION}`, undefined, as('alice'))).body
    expect(state).toEqual(want)
    // It did something: the agent had entries, and has none left.
    expect(answer.diff.length).toBeGreaterThan(0)
    const all = readState(human.doc)
    expect(Object.values(all.annotations).filter((a) => a.author === 'bot')).toEqual([])
    expect(all.explorationPath.filter((s) => s.by === 'bot')).toEqual([])
    expect(Object.values(all.decisions).filter((d) => d.createdBy === 'bot' || d.votes.bot !== undefined)).toEqual([])
    expect(Object.values(all.selections).filter((s) => s.by === 'bot')).toEqual([])
    expect(getDecisions(human.doc).size + getAnnotations(human.doc).size).toBeGreaterThan(0)

    const again = await revert('alice')
    expect([again.status, again.body.error.code]).toEqual([409, 'run_already_reverted'])
  })

  it('retracts the run\'s memory events from the graph, search and context, and keeps them in the log', async () => {
    const graph = (await call(server.url, 'GET', `/api/sessions/${SESSION}/memories`, undefined, as('alice'))).body
    expect(graph.memories.map((m: { id: string }) => m.id)).toEqual(['mem-alice'])
    expect(graph.connections).toEqual([])
    const search = (await call(server.url, 'POST', `/api/sessions/${SESSION}/memories/search`, { query: 'billing queue' }, as('alice'))).body
    expect(search.results).toEqual([])
    const context = (await call(server.url, 'GET', `/api/sessions/${SESSION}/context?format=json`, undefined, as('alice'))).body
    expect(context.recentMemoryEvents.map((e: { line: string }) => e.line).join('\n')).not.toContain('mem-bot')
    expect(context.recentMemoryEvents.map((e: { line: string }) => e.line).join('\n')).toContain('mem-alice')
    // A cascade from alice's memory no longer reaches the retracted one.
    const cascade = await call(server.url, 'POST', `/api/sessions/${SESSION}/cascades`, { memoryId: 'mem-alice', strength: 1 }, as('alice'))
    expect(cascade.body.data.affected).toEqual([])

    // Refolded from the log, the same; the log still has them (replay before the revert shows them).
    await rebuildProjection(server.store.driver, [SESSION])
    const rebuilt = (await call(server.url, 'GET', `/api/sessions/${SESSION}/memories`, undefined, as('alice'))).body
    expect(rebuilt).toEqual(graph)
    const events = (await call(server.url, 'GET', `/api/sessions/${SESSION}/events?types=memory.formed,memory.connected`, undefined, as('alice'))).body
    expect(events.events.filter((e: StoredEvent) => e.actor.run === RUN)).toHaveLength(2)

    // Memory events of the run after its revert count again.
    await bot.formMemory({ memoryId: 'mem-bot-later', content: 'a later finding about the billing queue' })
    const later = (await call(server.url, 'POST', `/api/sessions/${SESSION}/memories/search`, { query: 'billing queue' }, as('alice'))).body
    expect(later.results.map((r: { memoryId: string }) => r.memoryId)).toEqual(['mem-bot-later'])
  })
})

describe('reverting a run that only recorded memories (no server: app.request)', () => {
  let t: TestApp
  const request = async (path: string, body: unknown, headers: Record<string, string>) => {
    const response = await t.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    return { status: response.status, body: await response.json() as any }
  }
  const agent = { 'x-mnemo-id': 'scout', 'x-mnemo-kind': 'agent', 'x-mnemo-run': 'r-mem' }

  beforeAll(async () => {
    t = await startTestApp()
  })
  afterAll(async () => {
    await t?.close()
  })

  it('stores only run.reverted, and the graph forgets the run\'s memories', async () => {
    expect((await request('/api/sessions', { id: 'mem1' }, { 'x-mnemo-id': 'ada' })).status).toBe(201)
    await request('/api/sessions/mem1/events', { type: 'memory.formed', data: { memoryId: 'kept', content: 'kept' } }, { 'x-mnemo-id': 'ada' })
    await request('/api/sessions/mem1/events', { type: 'memory.formed', data: { memoryId: 'gone', content: 'gone', connections: [{ to: 'kept', strength: 0.5 }] } }, agent)
    const done = await request('/api/sessions/mem1/runs/r-mem/revert', {}, agent) // its own run
    expect(done.status).toBe(201)
    expect(done.body).toMatchObject({ diff: [], updates: 0, memoryEvents: 1 })
    const log = await sessionLog(t.store, 'mem1')
    expect(log.at(-1)).toMatchObject({ type: 'run.reverted', data: { run: 'r-mem' }, id: done.body.event })
    expect(log.filter((e) => e.type === 'doc.update')).toEqual([])
    const graph = await (await t.app.request('/api/sessions/mem1/memories')).json() as { memories: Array<{ id: string }>; connections: unknown[] }
    expect([graph.memories.map((m) => m.id), graph.connections]).toEqual([['kept'], []])
    expect((await request('/api/sessions/mem1/runs/r-mem/revert', { dryRun: true }, agent)).status).toBe(409)
  })
})
