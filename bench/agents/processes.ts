/**
 * What the agents benchmark runs around its load: a fresh PostgreSQL database per run
 * (created and dropped through `BENCH_PG_ADMIN_URL`, default the local `postgres` database),
 * the server as a child (`node --import tsx src/cli/index.ts serve`), and /proc readings
 * of CPU time and resident memory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const HOST = '127.0.0.1'

async function admin<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    return await work(sql)
  } finally {
    await sql.end({ timeout: 2 })
  }
}

/** Creates database `name` (an identifier we chose) and returns its URL. */
export async function createDatabase(name: string): Promise<string> {
  await admin((sql) => sql.unsafe(`CREATE DATABASE "${name}"`))
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return url.toString()
}

export async function dropDatabase(name: string): Promise<void> {
  try {
    await admin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  } catch (error) {
    process.stderr.write(`bench:agents: could not drop database ${name}: ${(error as Error).message}\n`)
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

export interface ServerChild {
  child: ChildProcess
  url: string
  stop(): Promise<void>
}

/** Starts `mnemo serve` on `databaseUrl` and resolves once /health answers 200. */
export async function startServer(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<ServerChild> {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', ...extraEnv }
  for (const key of ['MNEMO_AUTH_SECRET', 'NODE_OPTIONS', 'MNEMO_DB_SCHEMA']) delete env[key]
  // BENCH_AGENTS_SERVER_PROF=<dir>: the server writes a CPU profile there when it stops.
  const dir = process.env.BENCH_AGENTS_SERVER_PROF
  const profile = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', join(REPO_ROOT, 'src/cli/index.ts'), 'serve'], {
    cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  })
  const tail: string[] = []
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => l.slice(0, 300)))
    tail.splice(0, Math.max(0, tail.length - 10))
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const url = `http://${HOST}:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}): ${tail.join(' | ')}`)
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).status === 200) break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`the server did not answer /health within 60 s: ${tail.join(' | ')}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  return { child, url, stop: () => stopChild(child) }
}

/** Stops `child`: after `graceMs` for it to exit by itself, SIGTERM, and SIGKILL 10 s later. */
export async function stopChild(child: ChildProcess, graceMs = 0): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  if (graceMs > 0) await Promise.race([gone, new Promise((r) => setTimeout(r, graceMs))])
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await gone
  clearTimeout(timer)
}

/** Clock ticks per second of /proc's CPU times (100 on Linux everywhere that matters). */
const TICKS = 100

function stat(pid: number | string): [string, number] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const close = text.lastIndexOf(')')
    const fields = text.slice(close + 2).split(' ')
    return [text.slice(text.indexOf('(') + 1, close), Number(fields[11]) + Number(fields[12])]
  } catch {
    return undefined
  }
}

export const cpuSeconds = (pid: number): number => (stat(pid)?.[1] ?? NaN) / TICKS

export function rssMiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

/**
 * CPU seconds of the PostgreSQL backends serving `database` (their command line names it).
 * Other benchmarks share the server: counting every `postgres` process would count their
 * work too, and backends that exit would make the difference negative.
 */
export function postgresCpuSeconds(database: string): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const s = stat(entry)
    if (s?.[0] !== 'postgres') continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(` ${database} `)) total += s[1]
    } catch {
      // gone
    }
  }
  return total / TICKS
}

/** Busy CPU seconds of the whole machine, all cores. */
export function machineCpuSeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / TICKS
}

/**
 * Waits (up to `maxMs`) until the rest of the machine — everything but this process and
 * `ours` — uses under `quietPercent` of a core, measured over 2 s; returns the last reading.
 */
export async function waitForQuiet(maxMs: number, ours: number[] = [], quietPercent = 25): Promise<number> {
  const deadline = Date.now() + maxMs
  for (;;) {
    const mine = () => ours.reduce((sum, pid) => sum + (cpuSeconds(pid) || 0), 0) + process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6
    const [machine, own, at] = [machineCpuSeconds(), mine(), performance.now()]
    await new Promise((r) => setTimeout(r, 2000))
    const others = ((machineCpuSeconds() - machine - (mine() - own)) / ((performance.now() - at) / 1000)) * 100
    if (others < quietPercent || Date.now() > deadline) return Math.max(0, others)
  }
}
