/** examples/agent.ts, run as a user would run it, against a live server: it does what its README says. */
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, startTestServer, type TestServer } from './fixtures/server.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const run = promisify(execFile)

describe('examples/agent.ts', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(async () => {
    await server.stop()
  })

  it('reads the context, explores and annotates, forms a connected memory and votes', async () => {
    const { stdout } = await run(process.execPath,
      ['--import', 'tsx', join(ROOT, 'examples/agent.ts'), '--url', server.url, '--session', 'example', '--seed', '--run', 'ex-1'],
      { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'silent' } })
    expect(stdout).toContain('# Session example')
    expect(stdout).toMatch(/voted "yes" on "Roll back release 4.2\?"/)
    const session = (await call(server.url, 'GET', '/api/sessions/example')).body
    expect(session.state.explorationPath.map((s: any) => s.memoryId)).toEqual(['incident', 'cache', 'deploy'])
    expect(Object.values(session.state.annotations).map((a: any) => a.target).sort()).toEqual(['cache', 'deploy', 'incident'])
    const [decision] = Object.values(session.state.decisions) as any[]
    expect(Object.values(decision.votes)).toEqual(['yes'])
    const { events } = (await call(server.url, 'GET', '/api/sessions/example/events?types=memory.formed&limit=100')).body
    const summary = events.find((e: any) => e.data.kind === 'summary')
    expect(summary.data.connections.map((c: any) => c.to).sort()).toEqual(['cache', 'deploy', 'incident'])
    expect(summary.actor).toMatchObject({ kind: 'agent', run: 'ex-1' })
    expect(summary.meta.rationale).toMatch(/summary/)
  }, 120_000) // a child that compiles the example with tsx: slow on a busy machine
})
