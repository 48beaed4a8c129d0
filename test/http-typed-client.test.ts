/**
 * A typed client generated from the running server's OpenAPI document: openapi-typescript turns
 * `/openapi.json` into types, a small script using openapi-fetch with them type-checks under
 * strict settings (and a call with a wrong body does not), then calls three routes against the
 * server: create a session, append an event, read it back.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import openapiTS, { astToString } from 'openapi-typescript'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './fixtures/server.js'

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url))

const CLIENT = `
import createClient from 'openapi-fetch'
import type { paths } from './api.js'

export async function run(baseUrl: string) {
  const client = createClient<paths>({ baseUrl })
  const created = await client.POST('/api/sessions', { body: { id: 'typed', title: 'From a generated client' } })
  const appended = await client.POST('/api/sessions/{id}/events', {
    params: { path: { id: 'typed' } },
    body: { events: [{ type: 'conversation.turn', data: { role: 'user', content: 'hello' } }] },
  })
  const read = await client.GET('/api/sessions/{id}/events', { params: { path: { id: 'typed' }, query: { types: 'conversation.turn' } } })
  return { created: created.response.status, appended: appended.response.status, events: read.data?.events.map((e) => e.type) }
}
`

const WRONG = `
import createClient from 'openapi-fetch'
import type { paths } from './api.js'
export const wrong = () => createClient<paths>({ baseUrl: '' }).POST('/api/sessions/{id}/events', { params: { path: { id: 'x' } }, body: { event: 42 } })
`

function typeErrors(dir: string, file: string): string[] {
  const program = ts.createProgram([join(dir, file)], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true,
  })
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

describe('a client generated from /openapi.json', () => {
  let server: TestServer
  let dir: string
  beforeAll(async () => {
    server = await startTestServer()
    mkdirSync(ARTIFACTS, { recursive: true })
    // Inside the repository, so that the script resolves openapi-fetch from its node_modules.
    dir = mkdtempSync(join(ARTIFACTS, 'typed-client-'))
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
  })
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true })
    await server?.stop()
  })

  it('type-checks, refuses a wrong body, and calls three routes', async () => {
    const document = await (await fetch(`${server.url}/openapi.json`)).json()
    writeFileSync(join(dir, 'api.ts'), astToString(await openapiTS(document)))
    writeFileSync(join(dir, 'client.ts'), CLIENT)
    writeFileSync(join(dir, 'wrong.ts'), WRONG)
    expect(typeErrors(dir, 'client.ts')).toEqual([])
    expect(typeErrors(dir, 'wrong.ts').join('\n')).toMatch(/event/)
    const { run } = await import(pathToFileURL(join(dir, 'client.ts')).href) as { run(base: string): Promise<unknown> }
    expect(await run(server.url)).toEqual({ created: 201, appended: 201, events: ['conversation.turn'] })
  }, 60_000)
})
