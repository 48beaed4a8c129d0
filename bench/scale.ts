/**
 * `npm run bench:scale`: S1 (100 sessions × 5 stock clients × 2 updates/s) on one mnemo
 * instance, then the same load with each session's clients spread over two instances on one
 * PostgreSQL database, in one run. Reports update latency within one instance and across the
 * two, presence (awareness) propagation within and across, and the servers' CPU per delivered
 * update; writes bench/scale/last-run.md.
 *
 * Usage: node --import tsx bench/scale.ts [--quick] [--redis] [--cpu-prof]
 * `--cpu-prof`: every instance writes a V8 CPU profile into bench/scale/profiles/ when it stops
 * (open it in Chrome's DevTools or speedscope); profiling slows the servers, so its figures are not
 * the benchmark's.
 * `--redis`: presence between the instances over Redis (MNEMO_REDIS_URL, default
 * redis://127.0.0.1:6379) instead of PostgreSQL NOTIFY. This process is the load generator
 * (every client) and the orchestrator, which only reads /proc between windows.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { startChildServer, type ChildServer } from '../test/fixtures/child.js'
import { createClient, now, type BenchClient, type ConnectionCounters } from './sync/clients.js'
import { backendPids, createDatabase, dropAllDatabases, dropDatabase } from './sync/database.js'
import { CLOCK_TICKS, cpuTicks, createGroupMeter, idleMachineLoad } from './sync/procStats.js'
import type { Target } from './sync/scenarios.js'
import { MNEMO_CLI, REPO_ROOT, serverEnv } from './sync/serverProcess.js'
import { summarizeLatencies, type LatencySummary } from './sync/stats.js'
import { newTally, onRemoteSelections, runRate, type Tally } from './sync/workloads.js'

const argv = process.argv.slice(2)
const QUICK = argv.includes('--quick')
const REDIS = argv.includes('--redis')
const PROFILE_DIR = argv.includes('--cpu-prof') ? join(REPO_ROOT, 'bench/scale/profiles') : undefined
for (const arg of argv) if (!['--quick', '--redis', '--cpu-prof'].includes(arg)) throw new Error(`unknown option ${arg}; usage: bench/scale.ts [--quick] [--redis] [--cpu-prof]`)
const SESSIONS = 100
const PER_SESSION = 5
const RATE = 2
const WRITE_MS = QUICK ? 5_000 : 20_000
const DRAIN_MS = QUICK ? 1_500 : 5_000
/** Every client sets its awareness state this often, carrying the send time. */
const PRESENCE_EVERY_MS = 1_000

// Every stock provider listens for the process' exit (to say goodbye to the awareness).
process.setMaxListeners(0)

const log = (text: string): void => { process.stderr.write(`bench:scale: ${text}\n`) }
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

interface Run {
  label: string
  instances: number
  updates: { within: LatencySummary, across: LatencySummary }
  presence: { within: LatencySummary, across: LatencySummary }
  sent: number
  delivered: number
  lost: number
  serverCpuMs: number
  postgresCpuMs: number
  othersBusyPct: number
  /** CPU over the window, in % of one core: this process (every client), the servers, their PostgreSQL backends. */
  clientsPct: number
  serversPct: number
  postgresPct: number
  errors: number
  closes: number
}

/** Which instance client `index` is on: all on 0, or (spread) alternating within each session. */
const instanceOf = (index: number, instances: number): number => instances === 1 ? 0 : (index % PER_SESSION) % 2

async function startInstances (count: number, databaseUrl: string): Promise<ChildServer[]> {
  const env = {
    DATABASE_URL: databaseUrl,
    MNEMO_RATE_UPDATES_PER_SEC: '0',
    MNEMO_MAX_CONNECTIONS_PER_SESSION: '1000',
    ...(REDIS ? { MNEMO_REDIS_URL: process.env.MNEMO_REDIS_URL ?? 'redis://127.0.0.1:6379', MNEMO_REDIS_PREFIX: `bench-${randomBytes(4).toString('hex')}:` } : {}),
  }
  const servers: ChildServer[] = []
  // One after the other: each would run the migrations.
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true })
  const started = Date.now()
  const nodeArgs = (i: number): string[] => PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${started}-instance-${i + 1}-of-${count}.cpuprofile`] : []
  for (let i = 0; i < count; i++) servers.push(await startChildServer(env, { cli: MNEMO_CLI, baseEnv: serverEnv(), nodeArgs: nodeArgs(i) }))
  // Until every instance's registry has seen the others (a heartbeat, 5 s at most), the
  // others' commits reach it by reading them back rather than in their notifications.
  if (count > 1) {
    for (const server of servers) {
      for (;;) {
        const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
        if (new RegExp(`^mnemo_instances_live ${count}$`, 'm').test(metrics)) break
        await sleep(100)
      }
    }
  }
  return servers
}

function busyTicks (): number {
  const fields = (os.cpus()).reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)
  return fields // milliseconds
}

async function runOnce (instances: number): Promise<Run> {
  const label = instances === 1 ? 'one instance' : 'two instances, each session spread over both'
  const database = `bench_scale_${randomBytes(6).toString('hex')}`
  const databaseUrl = await createDatabase(database)
  const servers = await startInstances(instances, databaseUrl)
  const counters: ConnectionCounters = { errors: 0, closes: 0 }
  const clients: BenchClient[] = []
  try {
    const targets: Target[] = servers.map(s => ({ server: 'mnemo', url: `ws://127.0.0.1:${s.port}/sync`, framing: 'y-websocket', withIdentity: true }))
    log(`${label}: connecting ${SESSIONS * PER_SESSION} clients`)
    for (let i = 0; i < SESSIONS * PER_SESSION; i++) {
      const session = `scale-${String(Math.floor(i / PER_SESSION)).padStart(3, '0')}`
      clients.push(createClient(targets[instanceOf(i, instances)], session, i, counters))
      if (i % 50 === 49) while (clients.some(c => !c.synced)) await sleep(5)
    }
    while (clients.some(c => !c.synced)) await sleep(20)
    // Presence: every client's state carries its send time; every other client of the session
    // that sees it change records how long it took, within its instance or across.
    const presence = { within: [] as number[], across: [] as number[] }
    for (const client of clients) {
      client.provider.awareness.on('change', ({ updated, added }: { updated: number[], added: number[] }) => {
        const t = now()
        for (const id of [...updated, ...added]) {
          if (id === client.doc.clientID) continue
          const state = client.provider.awareness.getStates().get(id) as { sentAt?: number, from?: number } | undefined
          if (state?.sentAt === undefined || state.from === undefined) continue
          const across = instanceOf(state.from, instances) !== instanceOf(client.index, instances)
          ;(across ? presence.across : presence.within).push(t - state.sentAt)
        }
      })
    }
    // Updates, classified the same way (keys are `<sender index>.<seq>`).
    const tally: Tally = newTally()
    const updates = { within: [] as number[], across: [] as number[] }
    for (const client of clients) {
      onRemoteSelections(client, (key, value, received) => {
        const sender = Number(key.slice(0, key.indexOf('.')))
        const across = instanceOf(sender, instances) !== instanceOf(client.index, instances)
        ;(across ? updates.across : updates.within).push(received - value.at)
        tally.delivered++
      })
    }
    // Each state names its sender before the window: 500 first states (and their echoes) at its
    // start would be a burst of their own, not the renewals measured.
    for (const client of clients) client.provider.awareness.setLocalStateField('from', client.index)
    await sleep(1_000)
    const pg = createGroupMeter()
    pg.begin(await backendPids(database))
    const serverTicks = (): number => servers.reduce((sum, s) => sum + (cpuTicks(s.pid) ?? 0), 0)
    const cpuBefore = serverTicks()
    const busyBefore = busyTicks()
    const selfBefore = process.cpuUsage()
    const windowStart = now()
    // Each client renews at its own phase, as updates are sent (runRate): 500 timers made in one
    // loop would otherwise fire in the same turn every second, a burst of 500 states (and their
    // echoes: stock providers send on every state they receive) that no room of people makes.
    const presenceTimers = clients.map((client) => {
      const tick = (): void => client.provider.awareness.setLocalStateField('sentAt', now())
      const timers: { start: NodeJS.Timeout, every?: NodeJS.Timeout } = {
        start: setTimeout(() => {
          tick()
          timers.every = setInterval(tick, PRESENCE_EVERY_MS)
        }, Math.random() * PRESENCE_EVERY_MS),
      }
      return timers
    })
    log(`${label}: writing for ${WRITE_MS / 1000} s`)
    const meter = setInterval(() => { backendPids(database).then(p => pg.observe(p), () => {}) }, 1_000)
    await runRate(clients, tally, RATE, WRITE_MS)
    for (const timers of presenceTimers) { clearTimeout(timers.start); clearInterval(timers.every) }
    clearInterval(meter)
    pg.observe(await backendPids(database))
    const windowMs = now() - windowStart
    const serverCpuMs = (serverTicks() - cpuBefore) * 1000 / CLOCK_TICKS
    const postgresCpuMs = pg.ticks() * 1000 / CLOCK_TICKS
    const self = process.cpuUsage(selfBefore)
    const othersBusyMs = Math.max(0, (busyTicks() - busyBefore) - serverCpuMs - postgresCpuMs - (self.user + self.system) / 1000)
    await sleep(DRAIN_MS)
    let lost = 0
    const bySession = new Map<string, BenchClient[]>()
    for (const c of clients) bySession.set(c.session, [...(bySession.get(c.session) ?? []), c])
    for (const group of bySession.values()) {
      for (const sender of group) {
        const sent = tally.sentBy.get(sender) ?? 0
        for (const receiver of group) {
          if (receiver === sender) continue
          for (let seq = 0; seq < sent; seq++) if (!receiver.selections.has(`${sender.index}.${seq}`)) lost++
        }
      }
    }
    return {
      label,
      instances,
      updates: { within: summarizeLatencies(updates.within), across: summarizeLatencies(updates.across) },
      presence: { within: summarizeLatencies(presence.within), across: summarizeLatencies(presence.across) },
      sent: tally.sent,
      delivered: tally.delivered,
      lost,
      serverCpuMs,
      postgresCpuMs,
      othersBusyPct: othersBusyMs / windowMs * 100,
      clientsPct: (self.user + self.system) / 1000 / windowMs * 100,
      serversPct: serverCpuMs / windowMs * 100,
      postgresPct: postgresCpuMs / windowMs * 100,
      errors: counters.errors,
      closes: counters.closes,
    }
  } finally {
    for (const c of clients) {
      c.provider.destroy()
      c.doc.destroy()
    }
    for (const s of servers) await s.stop(5_000)
    await dropDatabase(database)
  }
}

const ms = (value: number): string => Number.isFinite(value) ? value.toFixed(2) : '—'
const cell = (s: LatencySummary): string => s.n === 0 ? '—' : `${ms(s.p50)} / ${ms(s.p99)} (n = ${s.n.toLocaleString('en-US')})`

function report (runs: Run[], idleAtStart: number): string {
  const [one, two] = runs
  const delta = (a: number, b: number): string => Number.isFinite(a) && Number.isFinite(b) ? `${(a - b >= 0 ? '+' : '')}${(a - b).toFixed(2)} ms` : '—'
  const lines = [
    '# Scale benchmark: last run',
    '',
    `- command: \`node --import tsx bench/scale.ts${argv.length > 0 ? ' ' + argv.join(' ') : ''}\``,
    `- date: ${new Date().toISOString()}`,
    `- node ${process.version} on ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores; the cores were shared by the mnemo instances,`,
    '  their PostgreSQL backends and this process (every client, one process); other processes used',
    `  ${idleAtStart.toFixed(0)}% of a core just before the start`,
    `- load: ${SESSIONS} sessions × ${PER_SESSION} stock WebsocketProvider clients × ${RATE} updates/s for ${WRITE_MS / 1000} s; every client`,
    `  also sets its awareness state every ${PRESENCE_EVERY_MS / 1000} s. Spread: clients 0, 2, 4 of each session on instance 1, clients 1, 3 on instance 2.`,
    `- presence between instances over ${REDIS ? 'Redis pub/sub' : 'PostgreSQL NOTIFY'}`,
    '',
    '| | ' + runs.map(r => r.label).join(' | ') + ' |',
    '|---|' + runs.map(() => '---:').join('|') + '|',
    `| update latency within an instance, p50 / p99 (ms) | ${runs.map(r => cell(r.updates.within)).join(' | ')} |`,
    `| update latency across instances, p50 / p99 (ms) | ${runs.map(r => cell(r.updates.across)).join(' | ')} |`,
    `| presence within an instance, p50 / p99 (ms) | ${runs.map(r => cell(r.presence.within)).join(' | ')} |`,
    `| presence across instances, p50 / p99 (ms) | ${runs.map(r => cell(r.presence.across)).join(' | ')} |`,
    `| updates sent / deliveries | ${runs.map(r => `${r.sent.toLocaleString('en-US')} / ${r.delivered.toLocaleString('en-US')}`).join(' | ')} |`,
    `| lost (update, receiver) pairs | ${runs.map(r => r.lost).join(' | ')} |`,
    `| servers' CPU µs per delivered update | ${runs.map(r => (r.serverCpuMs * 1000 / r.delivered).toFixed(1)).join(' | ')} |`,
    `| PostgreSQL backends' CPU µs per delivered update | ${runs.map(r => (r.postgresCpuMs * 1000 / r.delivered).toFixed(1)).join(' | ')} |`,
    `| connection errors / closes | ${runs.map(r => `${r.errors} / ${r.closes}`).join(' | ')} |`,
    `| CPU over the window, % of one core: clients (this process) / servers / PostgreSQL | ${runs.map(r => `${r.clientsPct.toFixed(0)} / ${r.serversPct.toFixed(0)} / ${r.postgresPct.toFixed(0)}`).join(' | ')} |`,
    `| other processes' CPU meanwhile (% of one core) | ${runs.map(r => r.othersBusyPct.toFixed(0)).join(' | ')} |`,
  ]
  if (one !== undefined && two !== undefined) {
    lines.push('', `Crossing instances adds ${delta(two.updates.across.p50, one.updates.within.p50)} at p50 and ` +
      `${delta(two.updates.across.p99, one.updates.within.p99)} at p99 to update latency (across, spread, against within, one instance); goal ≤ +2 ms / ≤ +5 ms.`,
    // The same comparison under the same load: both instances and their clients share the 2
    // cores in the spread run, so against one instance it also counts a second instance's work.
    `Under the same load (the spread run, across against within): ${delta(two.updates.across.p50, two.updates.within.p50)} at p50 and ` +
      `${delta(two.updates.across.p99, two.updates.within.p99)} at p99.`)
  }
  return lines.join('\n') + '\n'
}

async function main (): Promise<void> {
  const idle = await idleMachineLoad(1_000)
  const runs = [await runOnce(1), await runOnce(2)]
  const text = report(runs, idle)
  console.log(text)
  const out = join(REPO_ROOT, 'bench/scale/last-run.md')
  mkdirSync(join(REPO_ROOT, 'bench/scale'), { recursive: true })
  writeFileSync(out, text)
  log(`written to ${out}`)
  await dropAllDatabases()
}

main().then(() => process.exit(0), async (error: unknown) => {
  log((error as Error).stack ?? String(error))
  await dropAllDatabases()
  process.exit(1)
})
