/**
 * `GET …/context` end to end: participants from the log, the document's selections, path,
 * open annotations and decisions, and recent memory events, as JSON and as Markdown.
 */
import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { propose, vote } from '../src/session/decisions.js'
import { annotate, explore, resolveAnnotation, select } from '../src/session/write.js'
import type { Actor } from '../src/store/types.js'
import { backends } from './fixtures/db.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'

const alice: Actor = { id: 'alice', name: 'Alice', kind: 'human' }
const bot: Actor = { id: 'bot-1', name: 'Navigator', kind: 'agent' }
const server: Actor = { id: 'mnemo', name: 'mnemo', kind: 'server' }

describe.each(backends)('agent context on $name', (backend) => {
  let running: TestServer
  beforeAll(async () => {
    running = await startTestServer(backend)
    const { store } = running
    const session = 'ctx'
    const joined = (who: Actor) => ({ type: 'participant.joined', data: { participant: { id: who.id, name: who.name, kind: who.kind } }, actor: server })
    const left = (who: Actor) => ({ ...joined(who), type: 'participant.left' })
    await store.append(session, [{ type: 'session.created', data: {}, actor: server }, joined(alice), joined(bot), left(bot)])

    // The document, as the rooms would have stored it: one doc.update per change.
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (update: Uint8Array) => updates.push(update))
    select(doc, 'm-coffee', 'alice', 1000)
    explore(doc, { memoryId: 'm-coffee', by: 'alice', note: 'start here', at: 1001 })
    explore(doc, { memoryId: 'm-tea', by: 'bot-1', at: 1002 })
    annotate(doc, { id: 'n1', target: 'm-tea', author: 'alice', text: 'Is this still true?', createdAt: 1003 })
    annotate(doc, { id: 'n2', target: 'm-tea', author: 'alice', text: 'already settled', createdAt: 1004 })
    resolveAnnotation(doc, 'n2')
    propose(doc, { id: 'd1', question: 'Which drink first?', options: ['coffee', 'tea'], quorum: 2, createdBy: 'alice' })
    vote(doc, 'd1', 'alice', 'coffee')
    for (const update of updates) {
      await store.append(session, [{ type: 'doc.update', data: { bytes: update.byteLength, changes: [] }, payload: update, actor: alice }])
    }

    const post = (body: unknown, who: Actor) =>
      call(running.url, 'POST', `/api/sessions/${session}/events`, body, { 'x-mnemo-id': who.id, 'x-mnemo-name': who.name, 'x-mnemo-kind': who.kind })
    await post({ events: [
      { type: 'memory.formed', data: { memoryId: 'm-coffee', content: 'Coffee is brewed at 93 °C', importance: 0.8 } },
      { type: 'memory.formed', data: { memoryId: 'm-tea', content: 'Green tea wants cooler water', importance: 0.3 } },
      { type: 'memory.connected', data: { from: 'm-tea', to: 'm-coffee', strength: 0.6 } },
    ] }, bot)
    await call(running.url, 'POST', `/api/sessions/${session}/memories/search`, { query: 'coffee' }, { 'x-mnemo-id': 'alice', 'x-mnemo-name': 'Alice' })
  })
  afterAll(async () => running.stop())

  it('gives the facts as JSON', async () => {
    const response = await call(running.url, 'GET', '/api/sessions/ctx/context?format=json')
    expect(response.status).toBe(200)
    const context = response.body
    expect(context.participants).toEqual([
      { id: 'alice', name: 'Alice', kind: 'human', online: true },
      { id: 'bot-1', name: 'Navigator', kind: 'agent', online: false },
    ])
    expect(context.selections).toEqual([{ memoryId: 'm-coffee', by: 'alice', byName: 'Alice', content: 'Coffee is brewed at 93 °C' }])
    expect(context.explorationPath.map((s: any) => [s.step, s.memoryId, s.byName, s.note])).toEqual([
      [1, 'm-coffee', 'Alice', 'start here'],
      [2, 'm-tea', 'Navigator', undefined],
    ])
    expect(context.openAnnotations).toEqual([{ id: 'n1', target: 'm-tea', author: 'alice', authorName: 'Alice', text: 'Is this still true?' }])
    expect(context.decisions).toEqual([{
      id: 'd1', question: 'Which drink first?', status: 'open', quorum: 2,
      tally: [{ option: 'coffee', votes: 1 }, { option: 'tea', votes: 0 }],
    }])
    expect(context.recentMemoryEvents.map((e: any) => e.type)).toEqual([
      'memory.formed', 'memory.formed', 'memory.connected', 'memory.cascade', 'memory.retrieved',
    ])
    expect(context.recentMemoryEvents[0].line).toBe('m-coffee formed by Navigator (agent), importance 0.8: Coffee is brewed at 93 °C')
  })

  it('gives the same facts as Markdown, and refuses an unknown format', async () => {
    const response = await fetch(`${running.url}/api/sessions/ctx/context?format=md`)
    expect(response.headers.get('content-type')).toBe('text/markdown; charset=utf-8')
    const text = await response.text()
    for (const fact of [
      '# Session ctx', '- Alice (alice, human, online)', '- Navigator (bot-1, agent, offline)',
      '- m-coffee (by Alice): Coffee is brewed at 93 °C', '1. m-coffee (Alice) — start here', '2. m-tea (Navigator): Green tea wants cooler water',
      '- n1 on m-tea by Alice: Is this still true?', '- d1 [open] Which drink first? — votes: coffee 1, tea 0 (quorum 2)',
      '- m-tea – m-coffee connected (strength 0.6) by Navigator (agent)', 'search "coffee" by Alice (human) → m-coffee',
    ]) expect(text).toContain(fact)
    expect(text).not.toContain('already settled')
    const bad = await call(running.url, 'GET', '/api/sessions/ctx/context?format=xml')
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toMatch(/format/)
  })
})
