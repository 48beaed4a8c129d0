/**
 * `mnemo mcp` as an MCP client sees it: the official SDK's Client spawns the real CLI over
 * stdio against a live server (token mode), lists the tools, calls each one, reads the
 * context resource, and gets tool errors (`isError`) for invalid calls.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.js'
import { MNEMO_BIN } from './fixtures/child.js'
import { call, startTestServer, type TestServer } from './fixtures/server.js'

const SECRET = 'an-mcp-test-secret-that-is-at-least-32-bytes'
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

const TOOLS = [
  'accept_proposal', 'activity', 'annotate_memory', 'blame', 'connect_memories', 'deselect_memory', 'explore_memory', 'form_memory',
  'get_context', 'get_proposal', 'get_state', 'list_memories', 'list_participants', 'list_proposals', 'propose_changes', 'propose_decision',
  'read_events', 'record_turn', 'reject_decision', 'reject_proposal', 'resolve_annotation', 'resume_agent', 'revert_run', 'run_cascade', 'search_memories',
  'select_memory', 'set_presence', 'strengthen_connection', 'suspend_agent', 'vote',
]

describe('mnemo mcp over stdio', () => {
  let server: TestServer
  let client: Client
  let stderr = ''
  beforeAll(async () => {
    server = await startTestServer(undefined, { MNEMO_AUTH_SECRET: SECRET })
    const token = await mintToken(SECRET, { sub: 'mcp-1', name: 'Desk assistant', kind: 'agent', role: 'editor', onBehalfOf: 'ada' })
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MNEMO_BIN, 'mcp', '--url', server.url, '--session', 'mcp', '--run', 'mcp-run'],
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', MNEMO_TOKEN: token, LOG_LEVEL: 'silent' },
      stderr: 'pipe',
    })
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    client = new Client({ name: 'mnemo-test', version: '1.0.0' })
    await client.connect(transport)
  }, 120_000) // a server, then a child CLI: slow on a busy machine
  afterAll(async () => {
    await client?.close()
    await server.stop()
  })

  const text = (result: unknown) => ((result as CallToolResult).content[0] as { text: string }).text
  const json = (result: unknown) => JSON.parse(text(result))
  const use = async (name: string, args: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name, arguments: args })
    if (result.isError) throw new Error(`${name} failed: ${text(result)}`)
    return result
  }

  it('lists the tools with JSON-schema inputs, and the context as a resource', async () => {
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS)
    const vote = tools.find((t) => t.name === 'vote')!
    expect(vote.inputSchema).toMatchObject({ type: 'object', required: ['decisionId', 'option'] })
    expect(Object.keys(vote.inputSchema.properties ?? {})).toContain('rationale')
    const { resources } = await client.listResources()
    expect(resources.map((r) => r.uri)).toContain('mnemo://session/mcp/context')
    expect(stderr).toContain('as Desk assistant (mcp-1), run mcp-run')
  })

  it('calls every tool against the live session', async () => {
    const a = json(await use('form_memory', { memoryId: 'm-a', content: 'disk latency rose at 10:00', importance: 0.8, rationale: 'from the graphs' }))
    expect(a).toMatchObject({ memoryId: 'm-a', event: { position: expect.any(Number) } })
    await use('form_memory', { memoryId: 'm-b', content: 'a backup job started at 10:00', connections: [{ to: 'm-a', strength: 0.6 }] })
    await use('connect_memories', { from: 'm-a', to: 'm-c', strength: 0.3 })
    await use('strengthen_connection', { from: 'm-a', to: 'm-b', strength: 0.9, rationale: 'same minute' })
    expect(json(await use('run_cascade', { memoryId: 'm-a' }))).toMatchObject({ type: 'memory.cascade' })
    await use('record_turn', { role: 'agent', content: 'the backup job is the likely cause' })
    expect(json(await use('search_memories', { query: 'backup' })).results[0].memoryId).toBe('m-b')
    expect(json(await use('list_memories')).memories.map((m: any) => m.id)).toEqual(['m-a', 'm-b'])
    await use('select_memory', { memoryId: 'm-b' })
    await use('select_memory', { memoryId: 'm-c' })
    await use('deselect_memory', { memoryId: 'm-c' })
    await use('explore_memory', { memoryId: 'm-b', note: 'the backup overlaps the spike' })
    const { annotationId } = json(await use('annotate_memory', { target: 'm-b', text: 'move the backup to 3am?' }))
    await use('resolve_annotation', { annotationId })
    const { decisionId } = json(await use('propose_decision', { question: 'move the backup?', options: ['yes', 'no'], quorum: 2 }))
    await use('vote', { decisionId, option: 'yes', rationale: 'it overlaps peak traffic' })
    const other = json(await use('propose_decision', { question: 'page the DBA?', options: ['yes', 'no'], quorum: 1 }))
    await use('reject_decision', { decisionId: other.decisionId })
    await use('set_presence', { status: 'thinking', focus: 'm-b' })
    const state = json(await use('get_state'))
    expect(state.selections).toEqual({ 'm-b': { by: 'mcp-1', at: expect.any(Number) } })
    expect(state.annotations[annotationId]).toMatchObject({ resolved: true })
    expect(state.decisions[decisionId].votes).toEqual({ 'mcp-1': 'yes' })
    expect(state.decisions[other.decisionId].status).toBe('rejected')
    expect(json(await use('list_participants'))).toContainEqual(expect.objectContaining({
      id: 'mcp-1', online: true, presence: { status: 'thinking', focus: 'm-b' },
    }))
    expect(text(await use('get_context'))).toContain('move the backup?')
    expect(json(await use('get_context', { format: 'json' })).session).toBe('mcp')
    const page = json(await use('read_events', { types: ['memory.formed'] }))
    expect(page.events.map((e: any) => [e.data.memoryId, e.actor.id, e.actor.onBehalfOf, e.actor.run])).toEqual([
      ['m-a', 'mcp-1', 'ada', 'mcp-run'], ['m-b', 'mcp-1', 'ada', 'mcp-run'],
    ])
    const resource = await client.readResource({ uri: 'mnemo://session/mcp/context' })
    expect((resource.contents[0] as { text: string }).text).toContain('# Session mcp')
    // The edits made over MCP are in the server's document, not only in the child's.
    const live = (await call(server.url, 'GET', '/api/sessions/mcp', undefined, { authorization: `Bearer ${await mintToken(SECRET, { sub: 'r', name: 'R', kind: 'human', role: 'viewer' })}` })).body
    expect(live.state.decisions[decisionId].votes).toEqual({ 'mcp-1': 'yes' })
  })

  it('answers invalid calls with tool errors that say what is wrong', async () => {
    const unknownDecision = await client.callTool({ name: 'vote', arguments: { decisionId: 'nope', option: 'yes' } })
    expect(unknownDecision.isError).toBe(true)
    expect(text(unknownDecision)).toContain('Unknown decision "nope"')
    const badInput = await client.callTool({ name: 'form_memory', arguments: { content: 'x', importance: 7 } })
    expect(badInput.isError).toBe(true)
    expect(text(badInput)).toMatch(/importance/)
    const missing = await client.callTool({ name: 'run_cascade', arguments: { memoryId: 'never-formed' } })
    expect(missing.isError).toBe(true)
    expect(text(missing)).toContain('memory_not_found')
    const noTool = await client.callTool({ name: 'teleport', arguments: {} })
    expect(noTool.isError).toBe(true)
  })
})
