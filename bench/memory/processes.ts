/**
 * The processes of `npm run bench:memory`: a fresh PostgreSQL database per run (created and
 * dropped through the maintenance database), the mnemo server as a child
 * (`node --import tsx src/cli/index.ts serve`), the load generator as another, and the
 * /proc readings that say where the two cores went.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TICKS_PER_SECOND = 100 // USER_HZ on every mainstream Linux build

const children = new Set<ChildProcess>()
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

/** SIGKILLs the children still running (synchronous: usable in an 'exit' handler). */
export function killChildren(): void {
  for (const child of children) if (child.pid !== undefined && running(child)) child.kill('SIGKILL')
}

export async function createDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `bench_mem_${randomBytes(4).toString('hex')}`
  const admin = async (statement: string) => {
    const sql = postgres(ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 })
    try {
      await sql.unsafe(statement)
    } finally {
      await sql.end({ timeout: 2 })
    }
  }
  await admin(`CREATE DATABASE "${name}"`)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return { name, url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

function spawnNode(args: string[], env: NodeJS.ProcessEnv, stdout: 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', stdout, 'pipe'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export interface ServerChild {
  url: string
  pid: number
  stop(): Promise<void>
}

/** Starts `mnemo serve` on `databaseUrl` and waits until /health answers. */
export async function startServer(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<ServerChild> {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
    // One caller sends thousands of requests a second here: a per-caller limit would measure itself.
    MNEMO_RATE_HTTP_PER_SEC: '0',
    ...extraEnv,
  }
  for (const key of ['MNEMO_AUTH_SECRET', 'NODE_OPTIONS', 'MNEMO_DB_SCHEMA']) delete env[key]
  const child = spawnNode(['src/cli/index.ts', 'serve'], env)
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)))
  const url = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + 60_000; ; ) {
    if (!running(child)) throw new Error(`mnemo serve exited: ${stderr}`)
    if (Date.now() > deadline) throw new Error(`mnemo serve did not answer /health within 60 s: ${stderr}`)
    try {
      if ((await fetch(`${url}/health`)).ok) break
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200))
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (!running(child)) return
      const gone = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))])
      if (running(child)) child.kill('SIGKILL')
    },
  }
}

/** Runs the load generator child to completion and parses its JSON line. */
export async function runLoadGenerator<T>(options: object, onStart?: (pid: number) => void): Promise<T> {
  const child = spawnNode(['bench/memory/loadgen.ts', JSON.stringify(options)], process.env, 'pipe')
  onStart?.(child.pid!)
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2000)))
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  if (code !== 0) throw new Error(`load generator exited with ${code}: ${err}`)
  return JSON.parse(out) as T
}

function ticksOf(pid: number | string): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const close = stat.lastIndexOf(')')
    const fields = stat.slice(close + 2).split(' ')
    return { comm: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) }
  } catch {
    return undefined
  }
}

export interface CpuReading {
  at: number
  pids: Map<number, number>
  /** Ticks of each `postgres` process: backends come and go, so they are compared per pid. */
  postgres: Map<number, number>
  machine: number
}

/** CPU ticks of the given processes, of every `postgres` process, and of the whole machine. */
export function readCpu(pids: number[]): CpuReading {
  const pg = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = ticksOf(entry)
    if (stat?.comm === 'postgres') pg.set(Number(entry), stat.ticks)
  }
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
  const self = process.cpuUsage()
  const pidTicks = new Map(pids.map((pid) => [pid, ticksOf(pid)?.ticks ?? 0]))
  pidTicks.set(process.pid, ((self.user + self.system) / 1e6) * TICKS_PER_SECOND)
  return { at: performance.now(), pids: pidTicks, postgres: pg, machine: user + nice + system + irq + softirq + (steal ?? 0) }
}

/** Cores used between two readings (1 = one whole core), per named process, PostgreSQL and others. */
export function coresBetween(a: CpuReading, b: CpuReading, names: Record<number, string>): Record<string, number> {
  const seconds = (b.at - a.at) / 1000
  const cores = (ticks: number) => ticks / TICKS_PER_SECOND / seconds
  const out: Record<string, number> = {}
  let ours = 0
  for (const [pid, ticks] of b.pids) {
    const used = ticks - (a.pids.get(pid) ?? 0)
    ours += used
    out[names[pid] ?? `pid ${pid}`] = cores(used)
  }
  // A backend that exited in between is lost (undercounted); one that started counts whole.
  let postgresTicks = 0
  for (const [pid, ticks] of b.postgres) postgresTicks += ticks - (a.postgres.get(pid) ?? 0)
  out.postgres = cores(postgresTicks)
  out.others = Math.max(0, cores(b.machine - a.machine - ours - postgresTicks))
  return out
}
