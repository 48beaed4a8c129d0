/**
 * `npm run bench:sync`: runs the sync scenarios against mnemo and the two peer y-websocket
 * servers with one load generator, each server fresh per scenario and in its own process,
 * samples the server from /proc, and prints side-by-side tables (also to last-run.md).
 *
 * Usage: node --import tsx bench/sync/index.ts [--scenario S1,S2] [--servers mnemo,hocuspocus,reference] [--quick] [--wait-quiet]
 * `--wait-quiet` holds each run (up to 5 min) until other processes use under a quarter of
 * a core, and repeats a disturbed run up to twice, keeping the least disturbed attempt;
 * `BENCH_SYNC_CPU_PROF=<dir>` writes the load generator's CPU profiles there.
 */
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { backendPids, dropAllDatabases } from './database.js'
import { insideTimings, readMetricSums, type MetricSums } from './insideTimings.js'
import { CLOCK_TICKS, cpuPercent, createGroupMeter, idleMachineLoad, othersCpuPercent, snapshot, type Snapshot } from './procStats.js'
import { reportHeader, scenarioTable, type Outcome } from './report.js'
import { SCENARIO_IDS, SERVER_NAMES, scenarioSpec, type CheckpointName, type FromLoadgen, type LoadResult, type ScenarioId, type ScenarioSpec, type ServerName, type ToLoadgen } from './scenarios.js'
import { killAllChildren, startServer, track, type RunningServer } from './serverProcess.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const RUN_TIMEOUT_MS = 10 * 60_000
/** `--wait-quiet`: strangers' CPU (% of one core) below which the machine counts as quiet. */
const QUIET_PCT = 25
const QUIET_ATTEMPTS = 3

const log = (text: string): void => { process.stderr.write(`bench:sync: ${text}\n`) }

function parseList<T extends string> (flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  const items = (value ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  const bad = items.filter(item => !allowed.includes(item as T))
  if (items.length === 0 || bad.length > 0) {
    throw new Error(`${flag} takes a comma-separated list of ${allowed.join(', ')}; got "${value ?? ''}"`)
  }
  return items as T[]
}

interface Options { scenarios: ScenarioId[], servers: ServerName[], quick: boolean, waitQuiet: boolean }

function parseArgs (argv: string[]): Options {
  let scenarios: ScenarioId[] = [...SCENARIO_IDS]
  let servers: ServerName[] = [...SERVER_NAMES]
  let quick = false
  let waitQuiet = false
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2)
    const value = (): string | undefined => inline ?? argv[++i]
    if (flag === '--scenario' || flag === '--scenarios') scenarios = parseList(flag, value(), SCENARIO_IDS)
    else if (flag === '--servers' || flag === '--server') servers = parseList(flag, value(), SERVER_NAMES)
    else if (flag === '--quick') quick = true
    else if (flag === '--wait-quiet') waitQuiet = true
    else throw new Error(`unknown option ${argv[i]}; usage: bench/sync/index.ts [--scenario S1,S2] [--servers mnemo,hocuspocus,reference] [--quick] [--wait-quiet]`)
  }
  return { scenarios, servers, quick, waitQuiet }
}

function profileArgs (): string[] {
  const dir = process.env.BENCH_SYNC_CPU_PROF
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

/** Waits, up to `maxMs`, for the rest of the machine to use under QUIET_PCT of a core. */
async function waitForQuiet (maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs
  for (;;) {
    const load = await idleMachineLoad(2_000)
    if (load < QUIET_PCT) return
    if (Date.now() > deadline) { log(`still ${load.toFixed(0)}% of a core busy elsewhere; running anyway`); return }
    log(`waiting for a quiet machine: other processes use ${load.toFixed(0)}% of a core`)
    await new Promise(resolve => setTimeout(resolve, 8_000))
  }
}

/**
 * Runs one scenario's load generator against a running server; at every checkpoint it
 * asks `onCheckpoint` to sample, then lets the generator go on.
 */
async function runLoadgen (spec: ScenarioSpec, server: RunningServer, onCheckpoint: (name: CheckpointName, loadgenPid: number) => Promise<void>): Promise<LoadResult> {
  const loadgen = fork(join(HERE, 'loadgen.ts'), [], { execArgv: ['--import', 'tsx', ...profileArgs()], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  track(loadgen)
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`no result within ${RUN_TIMEOUT_MS / 60_000} min`)), RUN_TIMEOUT_MS)
      loadgen.on('message', (message: FromLoadgen) => {
        if (message.type === 'checkpoint') {
          const ack = (): void => { loadgen.send({ type: 'ack', name: message.name } satisfies ToLoadgen) }
          onCheckpoint(message.name, loadgen.pid as number).then(ack, (error: Error) => { log(`sampling failed: ${error.message}`); ack() })
        } else if (message.type === 'progress') {
          log(`${spec.id} ${server.name}: ${message.text}`)
        } else {
          clearTimeout(guard)
          if (message.type === 'result') resolve(message.result)
          else reject(new Error(`load generator: ${message.message}`))
        }
      })
      loadgen.once('exit', (code) => { clearTimeout(guard); reject(new Error(`load generator exited (code ${code}) before reporting`)) })
      loadgen.send({ type: 'run', spec, target: server.target } satisfies ToLoadgen)
    })
  } finally {
    // It exits by itself right after reporting; only a stuck one gets killed.
    if (loadgen.exitCode === null && loadgen.signalCode === null) {
      const gone = new Promise(resolve => loadgen.once('exit', resolve))
      const grace = setTimeout(() => loadgen.kill('SIGKILL'), 3_000)
      await gone
      clearTimeout(grace)
    }
  }
}

/** One scenario against one running server: the generator's figures plus /proc samples. */
async function measure (spec: ScenarioSpec, server: RunningServer): Promise<Outcome> {
  const snaps = new Map<CheckpointName, Snapshot>()
  let rssPeakKiB = 0
  let sampler: NodeJS.Timeout | undefined
  const sampleRss = (s: Snapshot): void => { if (s.serverRssKiB > rssPeakKiB) rssPeakKiB = s.serverRssKiB }
  // mnemo's work partly happens in its database's backends: meter those, and only those.
  const database = server.database
  const postgres = createGroupMeter()
  const observePostgres = async (first = false): Promise<void> => {
    if (database === undefined) return
    const pids = await backendPids(database)
    if (first) postgres.begin(pids)
    else postgres.observe(pids)
  }
  const sums = new Map<CheckpointName, MetricSums>()
  const readSums = async (name: CheckpointName): Promise<void> => {
    if (server.metricsUrl === undefined || name === 'baseline') return
    try {
      sums.set(name, await readMetricSums(server.metricsUrl))
    } catch (error) {
      log(`${spec.id} ${server.name}: could not read ${server.metricsUrl}: ${(error as Error).message}`)
    }
  }
  let load: LoadResult
  try {
    load = await runLoadgen(spec, server, async (name, loadgenPid) => {
      if (name !== 'baseline') await observePostgres(name === 'measure-start')
      if (name === 'measure-end') await readSums(name)
      const s = snapshot(server.pid, loadgenPid, database === undefined ? NaN : postgres.ticks())
      snaps.set(name, s)
      sampleRss(s)
      if (name === 'measure-start') {
        let tick = 0
        sampler = setInterval(() => {
          sampleRss(snapshot(server.pid, loadgenPid))
          if (++tick % 4 === 0) observePostgres().catch(() => {})
        }, 250)
        await readSums(name)
      } else if (name === 'measure-end') {
        clearInterval(sampler)
      }
    })
  } finally {
    clearInterval(sampler)
  }
  const base = snaps.get('baseline') as Snapshot
  const start = snaps.get('measure-start') as Snapshot
  const end = snaps.get('measure-end') as Snapshot
  const measures = {
    serverCpuPct: cpuPercent(start.serverTicks, end.serverTicks, start.atMs, end.atMs),
    loadgenCpuPct: cpuPercent(start.loadgenTicks, end.loadgenTicks, start.atMs, end.atMs),
    postgresCpuPct: cpuPercent(start.postgresTicks, end.postgresTicks, start.atMs, end.atMs),
    othersCpuPct: othersCpuPercent(start, end),
    connectCpuS: (start.serverTicks - base.serverTicks) / CLOCK_TICKS,
    rssBeforeKiB: base.serverRssKiB,
    rssPeakKiB,
    rssEndKiB: end.serverRssKiB,
    inside: sums.has('measure-start') && sums.has('measure-end')
      ? insideTimings(sums.get('measure-start')!, sums.get('measure-end')!)
      : undefined
  }
  const notes: string[] = []
  if (!server.isRunning()) notes.push('the server process exited during the run')
  if (measures.othersCpuPct > 20) notes.push(`other processes used ${measures.othersCpuPct.toFixed(0)}% of a core meanwhile: expect noise`)
  if (measures.loadgenCpuPct > 90) notes.push(`the load generator was near saturation (${measures.loadgenCpuPct.toFixed(0)}% of a core): figures may be generator-bound`)
  if (load.synced < load.clients) notes.push(`${load.clients - load.synced} of ${load.clients} clients never synced`)
  if (load.connectionErrors + load.connectionCloses > 0) notes.push(`${load.connectionErrors} connection errors and ${load.connectionCloses} closes (dropped or refused connections)`)
  return { server: server.name, status: 'ok', load, notes, measures }
}

async function runOne (spec: ScenarioSpec, name: ServerName): Promise<Outcome> {
  log(`${spec.id} ${name}: starting a fresh server`)
  let server: RunningServer
  try {
    server = await startServer(name)
  } catch (error) {
    const reason = (error as Error).message
    log(`${name}: not available (${reason})`)
    return { server: name, status: 'unavailable', reason }
  }
  try {
    log(`${spec.id} ${name}: pid ${server.pid}, ${server.target.url}`)
    return await measure(spec, server)
  } catch (error) {
    log(`${spec.id} ${name}: failed: ${(error as Error).message}`)
    return { server: name, status: 'failed', reason: (error as Error).message }
  } finally {
    await server.stop()
  }
}

/**
 * On a shared machine: waits for quiet before each attempt, and repeats (up to three
 * attempts) a run that strangers disturbed, keeping the least disturbed one.
 */
async function runQuietly (spec: ScenarioSpec, name: ServerName): Promise<Outcome> {
  let best: Extract<Outcome, { status: 'ok' }> | undefined
  for (let attempt = 1; attempt <= QUIET_ATTEMPTS; attempt++) {
    await waitForQuiet(5 * 60_000)
    const outcome = await runOne(spec, name)
    if (outcome.status !== 'ok') return outcome
    if (best === undefined || outcome.measures.othersCpuPct < best.measures.othersCpuPct) best = outcome
    if (outcome.measures.othersCpuPct <= QUIET_PCT) break
    log(`${spec.id} ${name}: other processes used ${outcome.measures.othersCpuPct.toFixed(0)}% of a core during attempt ${attempt}`)
  }
  return best as Outcome
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const { scenarios, servers, quick, waitQuiet } = parseArgs(argv)
  const sections = [reportHeader(argv, servers, await idleMachineLoad(1_000))]
  const outFile = join(HERE, 'last-run.md')
  console.log(sections[0] + '\n')
  for (const id of scenarios) {
    const spec = scenarioSpec(id, quick)
    const outcomes: Outcome[] = []
    for (const name of servers) outcomes.push(waitQuiet ? await runQuietly(spec, name) : await runOne(spec, name))
    const table = scenarioTable(spec, outcomes)
    console.log(table + '\n')
    sections.push(table)
    writeFileSync(outFile, sections.join('\n\n') + '\n')
  }
  log(`written to ${outFile}`)
  await dropAllDatabases()
}

let interrupted = false
const interrupt = (signal: NodeJS.Signals): void => {
  if (interrupted) return
  interrupted = true
  log(`${signal}: stopping every child process`)
  killAllChildren()
  const giveUp = setTimeout(() => process.exit(130), 5_000)
  dropAllDatabases().finally(() => { clearTimeout(giveUp); process.exit(130) })
}
process.on('SIGINT', interrupt)
process.on('SIGTERM', interrupt)
process.on('exit', killAllChildren)

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    log((error as Error).message)
    killAllChildren()
    await dropAllDatabases()
    process.exit(1)
  }
)
