/**
 * `npm run bench:sync`: runs the sync scenarios against mnemo and the two peer y-websocket
 * servers with one load generator, each server fresh per scenario and in its own process,
 * samples the server from /proc, and prints side-by-side tables (also to last-run.md).
 *
 * Usage: node --import tsx bench/sync/index.ts [--scenario S1,S2] [--servers mnemo,hocuspocus,reference] [--quick] [--wait-quiet]
 * `--wait-quiet` holds each run (up to 10 min) until other processes use under a quarter
 * of a core; `BENCH_SYNC_CPU_PROF=<dir>` writes the load generator's CPU profiles there.
 */
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dropAllDatabases } from './database.js'
import { CLOCK_TICKS, cpuPercent, idleMachineLoad, othersCpuPercent, snapshot, type Snapshot } from './procStats.js'
import { LEGEND, scenarioTable, type Outcome } from './report.js'
import { SCENARIO_IDS, SERVER_NAMES, scenarioSpec, type CheckpointName, type FromLoadgen, type LoadResult, type ScenarioId, type ScenarioSpec, type ServerName, type ToLoadgen } from './scenarios.js'
import { killAllChildren, startServer, track, type RunningServer } from './serverProcess.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const RUN_TIMEOUT_MS = 10 * 60_000

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

/** Waits, up to `maxMs`, for the rest of the machine to use under 25% of a core. */
async function waitForQuiet (maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs
  for (;;) {
    const load = await idleMachineLoad(2_000)
    if (load < 25) return
    if (Date.now() > deadline) { log(`still ${load.toFixed(0)}% of a core busy elsewhere; running anyway`); return }
    log(`waiting for a quiet machine: other processes use ${load.toFixed(0)}% of a core`)
    await new Promise(resolve => setTimeout(resolve, 8_000))
  }
}

/** Runs one scenario's load generator against one running server, sampling it meanwhile. */
async function measure (spec: ScenarioSpec, server: RunningServer): Promise<Outcome> {
  const loadgen = fork(join(HERE, 'loadgen.ts'), [], { execArgv: ['--import', 'tsx', ...profileArgs()], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  track(loadgen)
  const loadgenPid = loadgen.pid as number
  const snaps = new Map<CheckpointName, Snapshot>()
  let rssPeakKiB = 0
  let sampler: NodeJS.Timeout | undefined
  const sampleRss = (s: Snapshot): void => { if (s.serverRssKiB > rssPeakKiB) rssPeakKiB = s.serverRssKiB }
  try {
    const load = await new Promise<LoadResult>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`no result within ${RUN_TIMEOUT_MS / 60_000} min`)), RUN_TIMEOUT_MS)
      loadgen.on('message', (message: FromLoadgen) => {
        if (message.type === 'checkpoint') {
          const s = snapshot(server.pid, loadgenPid, server.usesPostgres)
          snaps.set(message.name, s)
          if (message.name === 'measure-start') {
            sampleRss(s)
            sampler = setInterval(() => sampleRss(snapshot(server.pid, loadgenPid, false)), 250)
          } else if (message.name === 'measure-end') {
            clearInterval(sampler)
            sampleRss(s)
          }
          loadgen.send({ type: 'ack', name: message.name } satisfies ToLoadgen)
        } else if (message.type === 'progress') {
          log(`${spec.id} ${server.name}: ${message.text}`)
        } else if (message.type === 'result') {
          clearTimeout(guard)
          resolve(message.result)
        } else {
          clearTimeout(guard)
          reject(new Error(`load generator: ${message.message}`))
        }
      })
      loadgen.once('exit', (code) => { clearTimeout(guard); reject(new Error(`load generator exited (code ${code}) before reporting`)) })
      loadgen.send({ type: 'run', spec, target: server.target } satisfies ToLoadgen)
    })
    const base = snaps.get('baseline') as Snapshot
    const start = snaps.get('measure-start') as Snapshot
    const end = snaps.get('measure-end') as Snapshot
    const notes: string[] = []
    if (!server.isRunning()) notes.push('the server process exited during the run')
    const loadgenCpuPct = cpuPercent(start.loadgenTicks, end.loadgenTicks, start.atMs, end.atMs)
    const others = othersCpuPercent(start, end)
    if (others > 20) notes.push(`other processes used ${others.toFixed(0)}% of a core meanwhile: expect noise`)
    if (loadgenCpuPct > 90) notes.push(`the load generator was near saturation (${loadgenCpuPct.toFixed(0)}% of a core): figures may be generator-bound`)
    if (load.synced < load.clients) notes.push(`${load.clients - load.synced} of ${load.clients} clients never synced`)
    if (load.connectionErrors + load.connectionCloses > 0) notes.push(`${load.connectionErrors} connection errors and ${load.connectionCloses} closes (dropped or refused connections)`)
    return {
      server: server.name,
      status: 'ok',
      load,
      notes,
      measures: {
        serverCpuPct: cpuPercent(start.serverTicks, end.serverTicks, start.atMs, end.atMs),
        loadgenCpuPct,
        postgresCpuPct: cpuPercent(start.postgresTicks, end.postgresTicks, start.atMs, end.atMs),
        othersCpuPct: othersCpuPercent(start, end),
        connectCpuS: (start.serverTicks - base.serverTicks) / CLOCK_TICKS,
        rssBeforeKiB: base.serverRssKiB,
        rssPeakKiB,
        rssEndKiB: end.serverRssKiB
      }
    }
  } finally {
    clearInterval(sampler)
    // It exits by itself right after reporting; only a stuck one gets killed.
    if (loadgen.exitCode === null && loadgen.signalCode === null) {
      const gone = new Promise(resolve => loadgen.once('exit', resolve))
      const grace = setTimeout(() => loadgen.kill('SIGKILL'), 3_000)
      await gone
      clearTimeout(grace)
    }
  }
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

function header (argv: string[], servers: ServerName[], othersAtStart: number): string {
  const cores = os.availableParallelism()
  const sharers = ['the server under test', 'the load generator (every client, one process)']
  if (servers.includes('mnemo')) sharers.push('PostgreSQL (mnemo runs only)')
  return [
    '# Sync benchmark: last run',
    '',
    `- command: \`node --import tsx bench/sync/index.ts${argv.length > 0 ? ' ' + argv.join(' ') : ''}\``,
    `- date: ${new Date().toISOString()}`,
    `- node ${process.version} on ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- the ${cores} cores were shared by ${sharers.join(', ')}; the orchestrator only sampled /proc;`,
    `  other processes used ${othersAtStart.toFixed(0)}% of a core just before the start (per run: the "other processes" row)`,
    '- clients: stock `y-websocket` WebsocketProvider (ws, disableBc) with one Y.Doc each; for hocuspocus,',
    '  through a framing shim (bench/sync/hocuspocusSocket.ts), since Hocuspocus 3 prefixes every frame',
    '  with the document name and wants an auth frame first; the shim runs in the load generator',
    '- every server runs fresh for every scenario, in its own process; peers keep no persistence',
    '',
    LEGEND
  ].join('\n')
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const { scenarios, servers, quick, waitQuiet } = parseArgs(argv)
  const sections = [header(argv, servers, await idleMachineLoad(1_000))]
  const outFile = join(HERE, 'last-run.md')
  console.log(sections[0] + '\n')
  for (const id of scenarios) {
    const spec = scenarioSpec(id, quick)
    const outcomes: Outcome[] = []
    for (const name of servers) {
      if (waitQuiet) await waitForQuiet(10 * 60_000)
      outcomes.push(await runOne(spec, name))
    }
    const table = scenarioTable(spec, outcomes)
    console.log(table + '\n')
    sections.push(table)
    writeFileSync(outFile, sections.join('\n\n') + '\n')
  }
  log(`written to ${outFile}`)
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
