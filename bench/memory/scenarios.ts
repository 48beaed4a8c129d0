/**
 * The three measurements of `npm run bench:memory`: appends by 32 concurrent HTTP clients,
 * a cascade on a 10,000 / 50,000 graph (the engine alone and `POST …/cascades` end to end),
 * and searches over 100,000 memories (`POST …/memories/search`, which also records them).
 */
import { runCascade } from '../../src/memory/cascade.js'
import { DEFAULT_CASCADE_CONFIG } from '../../src/memory/config.js'
import { loadSlimGraph } from '../../src/memory/projectionQueries.js'
import type { SqlDriver } from '../../src/store/types.js'
import { cascadeGraph, searchCorpus, seeded, type BenchEvent, type Mix } from './data.js'
import type { LoadResult } from './loadgen.js'
import { coresBetween, readCpu, runLoadGenerator, type ServerChild } from './processes.js'
import { latency, type Latency } from './report.js'

async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mnemo-id': 'bench', 'x-mnemo-kind': 'agent' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() }
}

/** Appends `events` over HTTP in batches, a few requests at a time. */
export async function seedSession(server: ServerChild, session: string, events: BenchEvent[], batch = 1000, parallel = 4): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < events.length) {
      const slice = events.slice(next, (next += batch))
      const response = await postJson(`${server.url}/api/sessions/${session}/events`, { events: slice })
      if (response.status !== 201) throw new Error(`seeding ${session}: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`)
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
}

/** One load-generator run of one mix. */
export interface AppendSample {
  events: number
  cascades: number
  /** The measured window, and the whole run (cascades are counted over the whole run). */
  windowMs: number
  runMs: number
  requests: number
  errors: number
  latencies: number[]
  cores: Record<string, number>
}

export interface AppendRun {
  eventsPerSecond: number
  cascadesPerSecond: number
  requests: number
  errors: number
  latency: Latency
  /** Averaged over the samples' measured windows. */
  cores: Record<string, number>
}

/** 32 clients over 8 sessions of their own, one event per request; CPU read over the measured window only. */
export async function measureAppends(server: ServerChild, db: SqlDriver, mix: Mix, seconds: number, round = 0): Promise<AppendSample> {
  const warmupMs = 2000
  const options = {
    url: server.url, clients: 32, sessions: 8, sessionPrefix: `bench-${mix}-${round}-`, warmupMs, durationMs: seconds * 1000, mix,
    seed: 1 + round, batch: 1,
  }
  const countCascades = async () =>
    Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM events WHERE type = 'memory.cascade' AND session_id LIKE 'bench-%'"))[0].n)
  const cascadesBefore = await countCascades()
  let loadgenPid = 0
  let windowCpu: Record<string, number> = {}
  const result = await runLoadGenerator<LoadResult>(options, (pid) => {
    loadgenPid = pid
    setTimeout(() => {
      const start = readCpu([server.pid, loadgenPid])
      setTimeout(() => {
        windowCpu = coresBetween(start, readCpu([server.pid, loadgenPid]), { [server.pid]: 'server', [loadgenPid]: 'load generator', [process.pid]: 'orchestrator' })
      }, options.durationMs - 200)
    }, warmupMs + 100)
  })
  return {
    events: result.events,
    cascades: (await countCascades()) - cascadesBefore,
    windowMs: options.durationMs,
    runMs: options.durationMs + warmupMs,
    requests: result.requests,
    errors: result.errors,
    latencies: result.latencies,
    cores: windowCpu,
  }
}

/** Several samples of one mix (taken in turn with the other mixes, so they share the same background load) as one. */
export function combineAppends(samples: AppendSample[]): AppendRun {
  const sum = (f: (s: AppendSample) => number) => samples.reduce((total, s) => total + f(s), 0)
  const cores: Record<string, number> = {}
  for (const s of samples) for (const [k, v] of Object.entries(s.cores)) cores[k] = (cores[k] ?? 0) + v / samples.length
  return {
    eventsPerSecond: sum((s) => s.events) / (sum((s) => s.windowMs) / 1000),
    cascadesPerSecond: sum((s) => s.cascades) / (sum((s) => s.runMs) / 1000),
    requests: sum((s) => s.requests),
    errors: sum((s) => s.errors),
    latency: latency(samples.flatMap((s) => s.latencies)),
    cores,
  }
}

export interface CascadeRun {
  engine: Latency
  endToEnd: Latency
  coldMs: number
  reachedMedian: number
  memories: number
  connections: number
}

export async function measureCascades(server: ServerChild, db: SqlDriver, samples = 200): Promise<CascadeRun> {
  const random = seeded(10)
  const { formed, connected } = cascadeGraph(10_000, 50_000, random)
  await seedSession(server, 'graph', formed)
  await seedSession(server, 'graph', connected)
  const graph = await loadSlimGraph(db, 'graph')
  const sources = Array.from({ length: samples }, () => `g${Math.floor(random() * 10_000)}`)
  const options = { strength: 1, decay: DEFAULT_CASCADE_CONFIG.decay, min: DEFAULT_CASCADE_CONFIG.min, maxDepth: DEFAULT_CASCADE_CONFIG.maxDepth }
  for (const source of sources.slice(0, 20)) runCascade(graph, { source, ...options }) // JIT warm-up
  const engine: number[] = []
  const reached: number[] = []
  for (const source of sources) {
    const t0 = performance.now()
    const result = runCascade(graph, { source, ...options })
    engine.push(performance.now() - t0)
    reached.push(result.affected.length)
  }
  const cascade = async (memoryId: string) => {
    const t0 = performance.now()
    const response = await postJson(`${server.url}/api/sessions/graph/cascades`, { memoryId, strength: 1 })
    if (response.status !== 201) throw new Error(`POST cascades: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`)
    return performance.now() - t0
  }
  const coldMs = await cascade(sources[0]) // loads the graph into the server's cache
  for (const source of sources.slice(1, 21)) await cascade(source)
  const endToEnd: number[] = []
  for (const source of sources) endToEnd.push(await cascade(source))
  let edges = 0
  for (const n of graph.adjacency.values()) edges += n.size
  return {
    engine: latency(engine), endToEnd: latency(endToEnd), coldMs,
    reachedMedian: [...reached].sort((a, b) => a - b)[reached.length >> 1],
    memories: graph.memories.size, connections: edges / 2,
  }
}

export interface SearchRun {
  memories: number
  /** All classes but `frequent word`. */
  overall: Latency
  byClass: { name: string; latency: Latency; medianMatches: number }[]
}

export async function measureSearch(server: ServerChild, db: SqlDriver, count = 100_000): Promise<SearchRun> {
  const corpus = searchCorpus(count, seeded(20))
  await seedSession(server, 'search', corpus.events)
  // What autovacuum does on a live system: flush the GIN pending list, refresh statistics.
  await db.query('VACUUM ANALYZE memories')
  const search = async (query: string) => {
    const t0 = performance.now()
    const response = await postJson(`${server.url}/api/sessions/search/memories/search`, { query, limit: 10 })
    if (response.status !== 200) throw new Error(`search: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`)
    return performance.now() - t0
  }
  for (const q of corpus.queries['medium word'].slice(0, 20)) await search(q)
  const overall: number[] = []
  const byClass: SearchRun['byClass'] = []
  for (const [name, queries] of Object.entries(corpus.queries)) {
    const samples: number[] = []
    for (const q of queries) samples.push(await search(q))
    if (name !== 'frequent word') overall.push(...samples)
    const matches: number[] = []
    for (const q of queries.slice(0, 15)) {
      const [row] = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM memories WHERE session_id = 'search'
           AND (search @@ (websearch_to_tsquery('english', $1) || websearch_to_tsquery('simple', $1)) OR memory_id = $1)`, [q])
      matches.push(Number(row.n))
    }
    byClass.push({ name, latency: latency(samples), medianMatches: matches.sort((a, b) => a - b)[matches.length >> 1] })
  }
  const [{ n }] = await db.query<{ n: string }>("SELECT count(*) AS n FROM memories WHERE session_id = 'search'")
  return { memories: Number(n), overall: latency(overall), byClass }
}
