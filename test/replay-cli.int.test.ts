/** `mnemo replay | export | import | verify` on a real recorded session, as separate processes. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stateAt } from '../src/replay/stateAt.js'
import { openStore } from '../src/store/openStore.js'
import { runMnemo } from './fixtures/child.js'
import { postgresBackend, TEST_DATABASE_URL, type Backend } from './fixtures/db.js'
import { recordMixedSession, type Observation } from './fixtures/recording.js'

const mnemo = runMnemo

/** A database the CLI can open: a fresh schema on PostgreSQL, or a PGlite data directory. */
interface Place {
  env: Record<string, string>
  drop(): Promise<void>
}

async function pglitePlace(): Promise<Place> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mnemo-cli-'))
  return { env: { MNEMO_DATA_DIR: dataDir }, drop: () => rm(dataDir, { recursive: true, force: true }) }
}

async function postgresPlace(backend: Backend): Promise<Place> {
  const { config, drop } = await backend.create()
  return { env: { DATABASE_URL: config.databaseUrl!, MNEMO_DB_SCHEMA: config.schema! }, drop }
}

// Every CLI process starts its own database client (PGlite's costs seconds), so the CLI is
// exercised on one database per run: PostgreSQL when the suite has one (CI), else PGlite.
// Both drivers are covered by the store, HTTP and replay suites.
const places: [string, () => Promise<Place>][] = TEST_DATABASE_URL
  ? [['postgres', () => postgresPlace(postgresBackend)]]
  : [['pglite', pglitePlace]]

describe.each(places)('CLI on %s', (_name, makePlace) => {
  let source: Place
  let target: Place
  let dir: string
  let observations: Observation[]
  let middle: Observation
  let expectedMiddle: Awaited<ReturnType<typeof stateAt>>

  beforeAll(async () => {
    ;[source, target] = [await makePlace(), await makePlace()]
    dir = await mkdtemp(join(tmpdir(), 'mnemo-cli-files-'))
    const config = source.env.DATABASE_URL
      ? { databaseUrl: source.env.DATABASE_URL, schema: source.env.MNEMO_DB_SCHEMA }
      : { dataDir: source.env.MNEMO_DATA_DIR }
    // PGlite cannot be opened by two processes at once: record, then close before the CLI runs.
    const store = await openStore(config)
    observations = (await recordMixedSession(store, 's1', 50)).observations
    middle = observations[Math.floor(observations.length / 2)]
    expectedMiddle = await stateAt(store, 's1', middle.position)
    await store.close()
  })
  afterAll(async () => {
    await source?.drop()
    await target?.drop()
    await rm(dir, { recursive: true, force: true })
  })

  it('replay prints the state as JSON and as a briefing, now or at a position', async () => {
    const json = await mnemo(['replay', 's1', '--at', String(middle.position), '--format', 'json'], source.env)
    expect(json.code, json.stderr).toBe(0)
    const view = JSON.parse(json.stdout)
    expect(view).toMatchObject({ session: 's1', title: 'recorded s1', position: middle.position, version: middle.version, state: expectedMiddle.state })
    expect(view.participants.map((p: any) => [p.id, p.online])).toEqual([['alice', true], ['agent-7', true]])

    const md = await mnemo(['replay', 's1'], source.env)
    expect(md.code, md.stderr).toBe(0)
    const last = observations.at(-1)!
    expect(md.stdout).toMatch(/^# recorded s1 \(`s1`\)\n\nAs of position \d+ \(version \d+, the latest\), recorded /)
    for (const heading of ['Participants (2)', 'Selections', 'Exploration path', 'Open annotations', 'Decisions']) {
      expect(md.stdout).toContain(`## ${heading}`)
    }
    expect(md.stdout).toContain('- Navigator (`agent-7`, agent) — left')
    for (const id of Object.keys(last.state.decisions)) expect(md.stdout).toContain(`\`${id}\``)
    for (const step of last.state.explorationPath) expect(md.stdout).toContain(`\`${step.memoryId}\``)
  })

  it('replay explains bad arguments and unknown sessions', async () => {
    const both = await mnemo(['replay', 's1', '--at', '3', '--time', '2026-01-01T00:00:00Z'], source.env)
    expect(both.code).toBe(1)
    expect(both.stderr).toMatch(/cannot be used with option '--time/)
    const unknown = await mnemo(['replay', 'nope'], source.env)
    expect(unknown).toMatchObject({ code: 1, stderr: 'mnemo replay: session "nope" does not exist\n' })
  })

  it('export → import into another database → verify agrees, and the state is the same', async () => {
    const file = join(dir, 's1.ndjson')
    const exported = await mnemo(['export', 's1', '-o', file], source.env)
    expect(exported.code, exported.stderr).toBe(0)
    const text = await readFile(file, 'utf8')
    // One line per event, then the head record.
    expect(text.trimEnd().split('\n')).toHaveLength(observations.length + 1)
    expect(text.trimEnd().split('\n').at(-1)).toMatch(/^\{"head":\{"session":"s1","version":\d+,"hash":"[0-9a-f]{64}"\}\}$/)
    const toStdout = await mnemo(['export', 's1'], source.env)
    expect(toStdout.stdout).toBe(text)

    const imported = await mnemo(['import', file], target.env)
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout).toMatch(new RegExp(`^imported ${observations.length} events as session "s1" .*hash chain verified; \\d+ snapshots written\\n$`))
    const verified = await mnemo(['verify', 's1'], target.env)
    expect(verified).toMatchObject({ code: 0, stdout: `ok  s1: ${observations.length} events checked\n` })
    const again = await mnemo(['replay', 's1', '--format', 'json'], target.env)
    expect(JSON.parse(again.stdout).state).toEqual(observations.at(-1)!.state)
  })

  it('import refuses a tampered file with the line, a duplicate, and reads stdin', async () => {
    const text = await readFile(join(dir, 's1.ndjson'), 'utf8')
    const lines = text.split('\n')
    const seventh = JSON.parse(lines[6])
    seventh.meta.rationale = 'inserted later'
    lines[6] = JSON.stringify(seventh)
    const tampered = join(dir, 'tampered.ndjson')
    await writeFile(tampered, lines.join('\n'))
    const fresh = await makePlace()
    try {
      const bad = await mnemo(['import', tampered], fresh.env)
      expect(bad).toMatchObject({ code: 1, stdout: '', stderr: 'mnemo import: line 7: hash does not match its content\n' })
      const fromStdin = await mnemo(['import', '-'], fresh.env, text)
      expect(fromStdin.code, fromStdin.stderr).toBe(0)
      const duplicate = await mnemo(['import', join(dir, 's1.ndjson')], fresh.env)
      expect(duplicate.code).toBe(1)
      expect(duplicate.stderr).toMatch(/^mnemo import: line 1: session "s1" already exists here/)
      const missing = await mnemo(['import', join(dir, 'nope.ndjson')], fresh.env)
      expect(missing).toMatchObject({ code: 1, stderr: `mnemo import: cannot read ${join(dir, 'nope.ndjson')}: no such file\n` })
    } finally {
      await fresh.drop()
    }
  })
})
