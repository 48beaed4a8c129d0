/**
 * The memory graph projection against the log on every backend: it equals a fold of the log
 * after concurrent random appends, after a rollback, after events it missed (catch-up, an
 * older writer) and after `rebuildProjection` / `mnemo rebuild`; the cascade graph cache too.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createProgram } from '../src/cli/index.js'
import { applyMemoryEvents, emptyGraph, graphToJson } from '../src/memory/graph.js'
import { createGraphCache } from '../src/memory/graphCache.js'
import { catchUpProjection, createProjectionHook, rebuildProjection } from '../src/memory/projection.js'
import { loadSlimGraph, readGraphJson } from '../src/memory/projectionQueries.js'
import { openStore, type StoreConfig } from '../src/store/openStore.js'
import type { Actor, AppendHook, EventStore, NewEvent } from '../src/store/types.js'
import { anyBackend, backends, type Backend } from './fixtures/db.js'

const actor: Actor = { id: 'alice', name: 'Alice', kind: 'human' }

/** mulberry32: a small seeded generator, so every run appends the same events. */
function seeded(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A random memory event over a few ids, so that pairs and memories are hit again and again. */
function randomEvent(random: () => number): NewEvent {
  const id = () => `m${Math.floor(random() * 12)}`
  const strength = Math.round(random() * 100) / 100
  const pick = random()
  if (pick < 0.4) {
    const memoryId = id()
    const to = id()
    return {
      type: 'memory.formed',
      data: {
        memoryId, content: `memory ${memoryId} v${Math.floor(random() * 1000)}`, importance: strength,
        ...(random() < 0.3 ? { kind: 'fact', tags: ['t1', 't2'] } : {}),
        ...(to !== memoryId && random() < 0.5 ? { connections: [{ to, strength }] } : {}),
      },
      actor: { ...actor, id: `u${Math.floor(random() * 3)}` },
    }
  }
  const [from, to] = [id(), id()]
  if (from === to) return { type: 'conversation.turn', data: { role: 'user', content: 'x' }, actor }
  return { type: pick < 0.7 ? 'memory.connected' : 'memory.strength_changed', data: { from, to, strength, previous: null }, actor }
}

async function expectProjectionIsFold(store: EventStore, session: string): Promise<void> {
  const log = await store.read(session, { limit: 10_000 })
  expect(await readGraphJson(store.driver, session)).toEqual(graphToJson(applyMemoryEvents(emptyGraph(), log)))
}

/** A fresh database as a store config a second process (the CLI) can open too. */
async function sharedConfig(backend: Backend): Promise<{ config: StoreConfig; drop(): Promise<void> }> {
  if (backend.name === 'postgres') return backend.create()
  const dir = await mkdtemp(join(tmpdir(), 'mnemo-projection-'))
  return { config: { dataDir: dir }, drop: () => rm(dir, { recursive: true, force: true }) }
}

describe.each(backends)('memory projection on $name', (backend) => {
  const cleanup: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })
  async function open(config?: StoreConfig, hooks: AppendHook[] = [createProjectionHook()]): Promise<{ store: EventStore; config: StoreConfig }> {
    const db = config ? { config, drop: async () => {} } : await backend.create()
    const store = await openStore({ ...db.config, hooks })
    cleanup.push(() => db.drop(), () => store.close().catch(() => {}))
    return { store, config: db.config }
  }

  it('equals a fold of the log after concurrent random batches, and a rebuild changes nothing', async () => {
    const { store } = await open()
    const random = seeded(42)
    const sessions = ['s1', 's2', 's3']
    const appends: Promise<unknown>[] = []
    for (let i = 0; i < 120; i++) {
      const batch = Array.from({ length: 1 + Math.floor(random() * 4) }, () => randomEvent(random))
      appends.push(store.append(sessions[i % 3], batch))
    }
    await Promise.all(appends)
    for (const session of sessions) await expectProjectionIsFold(store, session)
    const before = await Promise.all(sessions.map((s) => readGraphJson(store.driver, s)))
    const result = await rebuildProjection(store.driver)
    expect(result.sessions).toEqual(sessions)
    expect(result.position).toBe(await store.lastPosition())
    expect(await Promise.all(sessions.map((s) => readGraphJson(store.driver, s)))).toEqual(before)
  })

  it('folds what it missed: history on first start, and events an older writer left out', async () => {
    // Appended without the hook at first (a writer that does not know the projection).
    const projection = createProjectionHook()
    let projecting = false
    const { store } = await open(undefined, [async (tx, events) => {
      if (projecting) await projection(tx, events)
    }])
    const random = seeded(7)
    for (let i = 0; i < 30; i++) await store.append('old', [randomEvent(random), randomEvent(random)])
    expect((await readGraphJson(store.driver, 'old')).memories).toEqual([])
    expect(await catchUpProjection(store.driver)).toBeGreaterThan(0)
    await expectProjectionIsFold(store, 'old')
    expect(await catchUpProjection(store.driver)).toBe(0)

    // Appended without the hook (a writer that does not know the projection), then with it.
    for (let i = 0; i < 10; i++) await store.append('old', [randomEvent(random)])
    const formedBy = (who: string) => ({ type: 'memory.formed', data: { memoryId: 'k', content: who, importance: 0.5 }, actor: { ...actor, id: who } })
    await store.append('old', [formedBy('first')])
    projecting = true
    await store.append('old', [formedBy('second'), { type: 'memory.connected', data: { from: 'm1', to: 'm2', strength: 0.5 }, actor }])
    await expectProjectionIsFold(store, 'old')
    const k = (await readGraphJson(store.driver, 'old')).memories.find((m) => m.id === 'k')
    expect([k?.content, k?.formedBy.id]).toEqual(['second', 'first'])
  })

  it('rolls back with the append: a failed transaction leaves neither events nor projection', async () => {
    const { store } = await open(undefined, [createProjectionHook(), async (_tx, events) => {
      if (events.some((e) => e.data.content === 'poison')) throw new Error('refused by a later hook')
    }])
    const cache = createGraphCache(store.driver)
    await store.append('r', [{ type: 'memory.formed', data: { memoryId: 'a', content: 'fine', importance: 0.5 }, actor }])
    expect((await cache.graphOf('r')).memories.has('a')).toBe(true)
    await expect(store.append('r', [
      { type: 'memory.connected', data: { from: 'a', to: 'b', strength: 1 }, actor },
      { type: 'memory.formed', data: { memoryId: 'b', content: 'poison', importance: 1 }, actor },
    ])).rejects.toThrow(/refused/)
    await expectProjectionIsFold(store, 'r')
    expect((await readGraphJson(store.driver, 'r')).connections).toEqual([])
    const graph = await cache.graphOf('r')
    expect([...graph.memories.keys()]).toEqual(['a'])
    expect(graph.adjacency.size).toBe(0)
  })

  it('keeps cached cascade graphs equal to the projection as the log grows', async () => {
    const { store } = await open()
    const cache = createGraphCache(store.driver, { maxDelta: 5 })
    const random = seeded(3)
    for (let round = 0; round < 8; round++) {
      // Some rounds add more than maxDelta events, which reloads instead of catching up.
      const count = round % 3 === 0 ? 9 : 2
      for (let i = 0; i < count; i++) await store.append('c', [randomEvent(random)])
      const [cached, fresh] = await Promise.all([cache.graphOf('c'), loadSlimGraph(store.driver, 'c')])
      expect(cached).toEqual(fresh)
    }
    // Concurrent callers share refreshes and all see the same graph.
    await store.append('c', [{ type: 'memory.formed', data: { memoryId: 'late', content: 'x', importance: 0.7 }, actor }])
    const graphs = await Promise.all([cache.graphOf('c'), cache.graphOf('c'), cache.graphOf('c')])
    for (const g of graphs) expect(g.memories.get('late')).toEqual({ importance: 0.7 })
  })

  it('catches cached cascade graphs up from the store\'s memory of the log, reading it only when memory falls short', async () => {
    const { store } = await open()
    let reads = 0
    const counting = { query: (text: string, params?: unknown[]) => { reads += 1; return store.driver.query(text, params) } }
    const cache = createGraphCache(counting as typeof store.driver, { recent: (after, through) => store.recentThrough(after, through) })
    const random = seeded(11)
    let through = 0
    for (let i = 0; i < 5; i++) {
      const result = await store.append('m', [randomEvent(random)])
      if (result.ok) through = result.events[0].position
    }
    await cache.graphOf('m', through) // the first load reads the projection
    const afterLoad = reads
    for (let round = 0; round < 6; round++) {
      // Another session's events in between: skipped over in memory, not read.
      await store.append('other', [randomEvent(random)])
      const result = await store.append('m', [randomEvent(random), randomEvent(random)])
      if (!result.ok) throw new Error('append refused')
      const cached = await cache.graphOf('m', result.events[1].position)
      expect(cached).toEqual(await loadSlimGraph(store.driver, 'm'))
    }
    expect(reads).toBe(afterLoad)
    // A position memory does not cover yet: read from the log as before.
    await cache.graphOf('m', Number.MAX_SAFE_INTEGER)
    expect(reads).toBe(afterLoad + 1)
  })

  // The command is the same on either backend; it runs on one of them (PostgreSQL when there is
  // one): opening a PGlite data directory four times over costs 10 s of CPU and tests nothing more.
  it.runIf(backend === anyBackend)('`mnemo rebuild [session…]` refolds what was lost, one session or all', async () => {
    const db = await sharedConfig(backend)
    cleanup.push(() => db.drop())
    const { store } = await open(db.config)
    const random = seeded(11)
    for (let i = 0; i < 40; i++) await store.append(i % 2 ? 'x' : 'y', [randomEvent(random)])
    const expected = { x: await readGraphJson(store.driver, 'x'), y: await readGraphJson(store.driver, 'y') }
    await store.driver.query('DELETE FROM memories')
    await store.driver.query('DELETE FROM memory_connections')
    await store.close()

    const env = db.config.databaseUrl
      ? { DATABASE_URL: db.config.databaseUrl, MNEMO_DB_SCHEMA: db.config.schema! }
      : { MNEMO_DATA_DIR: db.config.dataDir!, DATABASE_URL: undefined }
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
    const output: string[] = []
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (output.push(String(chunk)), true))
    try {
      for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v)
      await createProgram().parseAsync(['node', 'mnemo', 'rebuild', 'x', '--json'])
      const partial = await open(db.config)
      expect(await readGraphJson(partial.store.driver, 'x')).toEqual(expected.x)
      expect((await readGraphJson(partial.store.driver, 'y')).memories).toEqual([])
      await partial.store.close()
      await createProgram().parseAsync(['node', 'mnemo', 'rebuild'])
    } finally {
      write.mockRestore()
      for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v)
    }
    expect(JSON.parse(output[0])).toMatchObject({ sessions: ['x'], memories: expected.x.memories.length })
    expect(output[1]).toMatch(/^rebuilt all sessions from \d+ memory events up to position \d+: \d+ memories, \d+ connections\n$/)
    const after = await open(db.config)
    expect(await readGraphJson(after.store.driver, 'x')).toEqual(expected.x)
    expect(await readGraphJson(after.store.driver, 'y')).toEqual(expected.y)
  })
})
