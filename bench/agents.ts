/**
 * `npm run bench:agents`: 200 agents (the SDK) in one process, 10 operations/s each, over 20
 * sessions for 20 s against `mnemo serve` on a fresh PostgreSQL database, watched by one stock
 * y-websocket client per session in another process (the humans). Reports operations/s, the
 * p99 time until a human sees an agent's edit (goal < 50 ms) and the server's RSS; writes
 * bench/agents/last-run.md. `--quick`: 5 s. `--wait-quiet`: wait (up to
 * 10 min) until other processes use under a quarter of a core before the operations start.
 * Then, on the same server: blame of a 10,000-entry document (bench/agents/blame.ts), and the
 * revert of a 1,000-update run inside a 100,000-update session (bench/agents/revert.ts);
 * and the cost of a scoped token's check per update (bench/agents/scope.ts);
 * `--blame-only` / `--revert-only` / `--scope-only` measure just that, `--revert-scale 0.01` a smaller revert.
 *
 *   node --import tsx bench/agents.ts [--quick] [--wait-quiet] [--blame-only] [--revert-only] [--scope-only] [--revert-scale 1] [--agents 200] [--sessions 20] [--rate 10] [--seconds 20]
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { measureBlame, type BlameResult } from './agents/blame.js'
import { measureRevert, type RevertResult } from './agents/revert.js'
import { measureScope } from './agents/scope.js'
import type { HumansConfig, HumansResult } from './agents/humans.js'
import type { LoadConfig, LoadResult } from './agents/load.js'
import {
  cpuSeconds, createDatabase, waitForQuiet, dropDatabase, machineCpuSeconds, postgresCpuSeconds, rssMiB, startServer, stopChild, type ServerChild,
} from './agents/processes.js'
import { blameRows, printTable, revertRows, rows, scopeRows, writeLastRun, type Sampled } from './agents/report.js'

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'agents')
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    agents: { type: 'string', default: '200' },
    sessions: { type: 'string', default: '20' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string' },
    'wait-quiet': { type: 'boolean', default: false },
    'blame-only': { type: 'boolean', default: false },
    'revert-only': { type: 'boolean', default: false },
    'scope-only': { type: 'boolean', default: false },
    'revert-scale': { type: 'string', default: '1' },
  },
})
const config = {
  agents: Number(args.agents),
  sessions: Number(args.sessions),
  rate: Number(args.rate),
  seconds: Number(args.seconds ?? (args.quick ? 5 : 20)),
}
const log = (line: string) => process.stderr.write(`bench:agents: ${line}\n`)

async function main(): Promise<void> {
  if (args['scope-only']) {
    process.stdout.write(`\n${printTable(scopeRows(measureScope()))}\n\n`)
    return
  }
  const database = `mnemo_bench_agents_${randomBytes(4).toString('hex')}`
  const databaseUrl = await createDatabase(database)
  const sessions = Array.from({ length: config.sessions }, (_, i) => `bench-agents-${i}`)
  let server: ServerChild | undefined
  // BENCH_AGENTS_CPU_PROF=<dir>: the agents process writes a CPU profile there.
  const profile = process.env.BENCH_AGENTS_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_AGENTS_CPU_PROF}`] : []
  const childEnv = { ...process.env, LOG_LEVEL: 'silent' }
  const load = fork(join(HERE, 'load.ts'), [], { execArgv: ['--import', 'tsx', ...profile], env: childEnv })
  const humans = fork(join(HERE, 'humans.ts'), [], { execArgv: ['--import', 'tsx'], env: childEnv })
  const stopAll = async () => {
    // They exit by themselves after reporting (writing their profiles); then they are stopped.
    await Promise.all([stopChild(load, 5_000), stopChild(humans, 5_000)])
    if (server) await stopChild(server.child)
    await dropDatabase(database)
  }
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)))
  try {
    server = await startServer(databaseUrl)
    const scale = Number(args['revert-scale'])
    const revertOptions = { updates: Math.round(100_000 * scale), runUpdates: Math.max(1, Math.round(1_000 * scale)) }
    const revertOf = () => {
      log(`revert of a ${revertOptions.runUpdates}-update run inside a ${revertOptions.updates}-update session`)
      return measureRevert(server!.url, databaseUrl, revertOptions)
    }
    if (args['revert-only']) {
      process.stdout.write(`\n${printTable(revertRows(await revertOf()))}\n\n`)
      return
    }
    if (args['blame-only']) {
      log('blame of a 10,000-entry document')
      process.stdout.write(`\n${printTable(blameRows(await measureBlame(server.url)))}\n\n`)
      return
    }
    const serverPid = server.child.pid!
    log(`server ${server.url} (pid ${serverPid}) on database ${database}; joining ${config.sessions} humans and ${config.agents} agents`)
    const fromLoad = messagesOf(load, 'the agents process')
    const fromHumans = messagesOf(humans, 'the humans process')
    humans.send({ type: 'start', config: { url: server.url, sessions } satisfies HumansConfig })
    await fromHumans.next('joined')
    load.send({ type: 'start', config: { url: server.url, agents: config.agents, rate: config.rate, seconds: config.seconds, sessions, drainSeconds: 15, seed: 7 } satisfies LoadConfig })
    const joined = await fromLoad.next('joined')
    log(`joined in ${(joined.joinSeconds as number).toFixed(1)} s`)
    if (args['wait-quiet']) {
      log('waiting for the machine to be quiet (other processes under 25 % of a core)')
      log(`others use ${(await waitForQuiet(600_000, [serverPid, load.pid!, humans.pid!])).toFixed(0)} % of a core; starting`)
    }
    log(`running ${config.seconds} s`)

    const rssStart = rssMiB(serverPid)
    let rssPeak = rssStart
    const sample = () => ({
      at: performance.now(), server: cpuSeconds(serverPid), load: cpuSeconds(load.pid!), humans: cpuSeconds(humans.pid!),
      pg: postgresCpuSeconds(database), machine: machineCpuSeconds(), own: ownCpu(),
    })
    const before = sample()
    let after = before
    let windowOpen = true
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssMiB(serverPid))
      if (windowOpen && performance.now() - before.at >= config.seconds * 1000) {
        after = sample()
        windowOpen = false
      }
    }, 250)
    load.send({ type: 'go' })
    const { result: agents } = (await fromLoad.next('result')) as { result: LoadResult }
    humans.send({ type: 'finish', expected: agents.issued.doc, waitMs: 15_000 })
    const { result: watched } = (await fromHumans.next('result')) as { result: HumansResult }
    clearInterval(sampler)
    if (windowOpen) after = sample()
    const seconds = (after.at - before.at) / 1000
    const percent = (a: number, b: number) => ((b - a) / seconds) * 100
    const ours = ['server', 'load', 'humans', 'pg', 'own'].reduce((sum, k) => sum + (after[k as 'server'] - before[k as 'server']), 0)
    const sampled: Sampled = {
      serverCpuPercent: percent(before.server, after.server),
      loadCpuPercent: percent(before.load, after.load),
      humansCpuPercent: percent(before.humans, after.humans),
      postgresCpuPercent: percent(before.pg, after.pg),
      othersCpuPercent: Math.max(0, (((after.machine - before.machine) - ours) / seconds) * 100),
      serverRssStartMiB: rssStart,
      serverRssPeakMiB: rssPeak,
      serverRssEndMiB: rssMiB(serverPid),
    }
    const info = {
      command: `node --import tsx bench/agents.ts ${process.argv.slice(2).join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: `node ${process.version} on ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      config,
    }
    log('blame of a 10,000-entry document')
    const blame: BlameResult = await measureBlame(server.url)
    const reverted: RevertResult = await revertOf()
    log('scope checks per update')
    const scoped = measureScope()
    process.stdout.write(`\n${printTable([...rows(agents, watched, sampled, info), ...blameRows(blame), ...revertRows(reverted), ...scopeRows(scoped)])}\n\n`)
    log(`wrote ${writeLastRun(HERE, agents, watched, sampled, info, blame, reverted, scoped)}`)
  } finally {
    await stopAll()
  }
}

function ownCpu(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** A child's IPC messages, awaited by type; an error message or an early exit rejects. */
function messagesOf(child: ReturnType<typeof fork>, name: string) {
  const received: Array<Record<string, unknown>> = []
  let wake: () => void = () => {}
  let failure: Error | undefined
  child.on('message', (message: Record<string, unknown>) => {
    if (message.type === 'error') failure = new Error(`${name} failed: ${String(message.message)}`)
    else received.push(message)
    wake()
  })
  child.once('exit', (code) => {
    failure ??= new Error(`${name} exited (${code}) early`)
    wake()
  })
  return {
    async next(type: string): Promise<Record<string, unknown>> {
      for (;;) {
        const index = received.findIndex((m) => m.type === type)
        if (index >= 0) return received.splice(index, 1)[0]!
        if (failure) throw failure
        await new Promise<void>((resolve) => (wake = resolve))
      }
    },
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.stack ?? error.message : String(error))
  process.exitCode = 1
})
