/**
 * The packed package, as someone else installs it: `npm pack` of this checkout (dist/ built by
 * the suite's globalSetup), `npm install ./mnemo-*.tgz` into a fresh project, `npx mnemo`,
 * `mnemo serve` on its default embedded store, and a script importing `mnemo/agent` — type-checked
 * against the package's declarations, then run — joins a session and writes to it. Also measures
 * what the agent SDK loads (packages and their size on disk) against the whole install.
 *
 * Slow — 18 s with a warm npm cache, 42 s from a cold one (the install fetches 142 packages;
 * PGlite's first start creates its database) — and it may need the registry, so it runs only
 * with MNEMO_PACK_TEST=1.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChildServer, type ChildServer } from './fixtures/child.js'
import { call } from './fixtures/server.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const enabled = process.env.MNEMO_PACK_TEST === '1'
if (!enabled) console.warn('test/package.test.ts: skipped; MNEMO_PACK_TEST=1 packs, installs and starts the package (20–40 s)')

/** Packages only the server needs: the agent SDK must load none of them. */
const SERVER_ONLY = ['@electric-sql/pglite', 'postgres', 'ioredis', 'hono', '@hono/node-server', 'pino', 'prom-client', 'swagger-ui-dist', 'commander', 'jose', 'hono-openapi']

/** Valid TypeScript and JavaScript at once: type-checked as agent.mts, run as agent.mjs. */
const AGENT_SCRIPT = `import { joinSession, MnemoError } from 'mnemo/agent'

const url = process.argv[2]
const s = await joinSession({ url, session: 'packed', id: 'packed-agent', name: 'Packed agent' })
await s.select('m-1')
const formed = await s.formMemory({ content: 'installed from the tarball', importance: 0.5 })
await s.flush()
const selected = Object.keys(s.state().selections)
console.log(JSON.stringify({ me: s.me.id, selected, memoryId: formed.memoryId, isError: new MnemoError(400, 'x', 'y') instanceof Error }))
await s.close()
`
/** Fails the type check unless the declarations are real: each line must be an error. */
const TYPE_ERRORS = `import { joinSession } from 'mnemo/agent'

// @ts-expect-error: url is required
void joinSession({ session: 'packed' })
const s = await joinSession({ url: 'http://x', session: 'packed' })
// @ts-expect-error: select takes a memory id
void s.select(42)
`

/** Bytes on disk under `dir`. */
function diskSize(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += diskSize(path)
    else if (entry.isFile()) total += statSync(path).size
  }
  return total
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`

describe.skipIf(!enabled)('the packed package', () => {
  let work: string
  let app: string
  let server: ChildServer | undefined

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mnemo-pack-'))
    app = join(work, 'app')
    // dist/ is built by the globalSetup; `prepare` would only build it again.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT })
    const [{ filename }] = JSON.parse(packed.stdout) as { filename: string }[]
    await run('mkdir', [app])
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'uses-mnemo', private: true, type: 'module' }))
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, filename)], { cwd: app })
  }, 180_000)
  afterAll(async () => {
    await server?.stop()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('installs from the tarball with only what runs: no sources of tests, no build info', () => {
    const installed = join(app, 'node_modules/mnemo')
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'bin', 'dist', 'migrations', 'package.json', 'src'])
    expect(readdirSync(join(installed, 'dist'))).not.toContain('.tsbuildinfo')
    expect(statSync(join(installed, 'dist/web/index.html')).isFile()).toBe(true)
  })

  it('runs `npx mnemo`, serves on its embedded store, and a script importing mnemo/agent type-checks and joins a session', async () => {
    const help = await run('npx', ['--no', '--', 'mnemo', '--help'], { cwd: app })
    expect(help.stdout).toMatch(/serve/)

    // What `npx mnemo serve` runs, in the project's folder, on the default store (PGlite in ./data).
    server = await startChildServer(
      { MNEMO_DATA_DIR: join(app, 'data') },
      { cli: join(app, 'node_modules/mnemo/bin/mnemo.js'), baseEnv: { PATH: process.env.PATH ?? '' } },
    )
    expect(server.logs.find((line) => line.msg === 'listening')).toMatchObject({ store: 'pglite' })

    writeFileSync(join(app, 'agent.mts'), AGENT_SCRIPT)
    writeFileSync(join(app, 'agent.mjs'), AGENT_SCRIPT)
    writeFileSync(join(app, 'typeErrors.mts'), TYPE_ERRORS)
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true,
        skipLibCheck: true, typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'],
      },
      files: ['agent.mts', 'typeErrors.mts'],
    }))
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch((error: { stdout: string }) => {
      throw new Error(`the script does not type-check against the installed package:\n${error.stdout}`)
    })

    const agent = await run(process.execPath, ['agent.mjs', server.url], { cwd: app })
    expect(JSON.parse(agent.stdout)).toEqual({ me: 'packed-agent', selected: ['m-1'], memoryId: expect.any(String), isError: true })
    const events = (await call(server.url, 'GET', '/api/sessions/packed/events')).body.events as { type: string; actor: { id: string } }[]
    expect(events.filter((e) => e.actor.id === 'packed-agent').map((e) => e.type)).toEqual(expect.arrayContaining(['doc.update', 'memory.formed']))
  })

  it('the agent SDK loads no server-only package (and this is its footprint)', async () => {
    // Every module `import('mnemo/agent')` loads, recorded by a resolve hook.
    const trace = join(work, 'loaded.txt')
    writeFileSync(join(app, 'hooks.mjs'), `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(${JSON.stringify(trace)}, resolved.url + '\\n')
  return resolved
}`)
    writeFileSync(join(app, 'register.mjs'), `import { register } from 'node:module'\nregister('./hooks.mjs', import.meta.url)`)
    writeFileSync(trace, '')
    await run(process.execPath, ['--import', './register.mjs', '--input-type=module', '-e', "await import('mnemo/agent')"], { cwd: app })
    const modules = new Set(readFileSync(trace, 'utf8').split('\n').filter((url) => url.startsWith('file:')))
    const packages = new Set<string>()
    for (const url of modules) {
      const path = fileURLToPath(url)
      const rest = path.slice(path.lastIndexOf('/node_modules/') + '/node_modules/'.length)
      const [scope, name] = rest.split('/')
      packages.add(scope!.startsWith('@') ? `${scope}/${name}` : scope!)
    }
    for (const pkg of SERVER_ONLY) expect(packages, `the agent SDK loads ${pkg}`).not.toContain(pkg)
    // The MCP server is apart, in mnemo/agent/mcp.
    expect(packages).not.toContain('@modelcontextprotocol/sdk')
    const mcp = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('mnemo/agent/mcp'); console.log(typeof m.createMcpServer, typeof m.runMcpServer)"], { cwd: app })
    expect(mcp.stdout.trim()).toBe('function function')

    const loaded = [...packages].filter((pkg) => pkg !== 'mnemo').sort()
    const sizes = loaded.map((pkg) => diskSize(join(app, 'node_modules', pkg)))
    const install = diskSize(join(app, 'node_modules'))
    const installed = readdirSync(join(app, 'node_modules')).flatMap((entry) =>
      entry.startsWith('@') ? readdirSync(join(app, 'node_modules', entry)).map((name) => `${entry}/${name}`) : entry.startsWith('.') ? [] : [entry])
    console.log(`package test: the install is ${installed.length} packages, ${mb(install)}; mnemo/agent loads ${modules.size} modules ` +
      `from ${loaded.length} packages besides mnemo, ${mb(sizes.reduce((a, b) => a + b, 0))} on disk: ` +
      loaded.map((pkg, i) => `${pkg} ${mb(sizes[i]!)}`).join(', '))
  })
})
