/**
 * Starts and stops the servers under test, each in its own child process and fresh for
 * every scenario: the two peers through the launchers in `servers/`, mnemo through its
 * CLI (the tests' child-process helper) on a database created for that run and dropped after it. Every child is tracked so
 * that an interrupted benchmark can kill them all.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import type { ServerName, Target } from './scenarios.js'
import { createDatabase, dropDatabase } from './database.js'
import { killChildServers, startChildServer, type ChildServer } from '../../test/fixtures/child.js'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const HOST = '127.0.0.1'
/**
 * mnemo's CLI entry: the build users run (`npm start` → dist/, which `npm run bench:sync`
 * builds first), not the sources through tsx, whose keep-names helper alone cost ~4% of the
 * server's time in a profile. `BENCH_MNEMO_CLI` points elsewhere (`src/cli/index.ts`, say).
 */
export const MNEMO_CLI = process.env.BENCH_MNEMO_CLI ?? join(REPO_ROOT, 'dist/cli/index.js')
const READY_TIMEOUT_MS = 45_000

export interface RunningServer {
  name: ServerName
  pid: number
  port: number
  target: Target
  /** mnemo's database, whose backends' CPU the report shows beside the server's. */
  database?: string
  /** mnemo's Prometheus endpoint, whose timings show where an update's time goes. */
  metricsUrl?: string
  isRunning: () => boolean
  stop: () => Promise<void>
}

const children = new Set<ChildProcess>()

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

/** Registers a child so that `killAllChildren` reaches it. */
export function track (child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => children.delete(child))
}

/** SIGKILLs every child still running; synchronous so it can run in an 'exit' handler. */
export function killAllChildren (): void {
  killChildServers()
  for (const child of children) {
    if (child.pid !== undefined && isRunning(child)) {
      try { process.kill(child.pid, 'SIGKILL') } catch { /* already gone */ }
    }
  }
}

/** The environment a server child gets: ours, minus anything that would change its mode. */
export function serverEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  for (const key of ['YPERSISTENCE', 'CALLBACK_URL', 'MNEMO_AUTH_SECRET', 'NODE_OPTIONS']) delete env[key]
  return env
}

interface Spawned {
  child: ChildProcess
  /** Resolves with the port of the first `"msg":"listening"` line on stdout. */
  listening: Promise<number>
  /** Rejects, with the last lines of output, when the child exits. */
  exited: Promise<never>
}

function spawnNode (args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
  track(child)
  const tail: string[] = []
  let resolveListening: (port: number) => void = () => {}
  const listening = new Promise<number>(resolve => { resolveListening = resolve })
  // Read both pipes to the end, always: a server blocked on a full pipe would skew results.
  const onLines = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      tail.push(line.slice(0, 300))
      if (tail.length > 8) tail.shift()
      if (line.includes('"msg":"listening"')) {
        try {
          const port = Number((JSON.parse(line) as { port?: unknown }).port)
          if (Number.isInteger(port) && port > 0) resolveListening(port)
        } catch { /* not JSON after all */ }
      }
    }
  }
  child.stdout?.on('data', onLines)
  child.stderr?.on('data', onLines)
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => {
      reject(new Error(`exited (${signal ?? `code ${code}`}): ${tail.join(' | ') || 'no output'}`))
    })
  })
  exited.catch(() => {})
  return { child, listening, exited }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

function timeout (ms: number, what: string): Promise<never> {
  return sleep(ms).then(() => { throw new Error(`${what} within ${ms / 1000} s`) })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return
  const gone = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.stdin?.end()
  child.kill('SIGTERM')
  await Promise.race([gone, sleep(5_000)])
  if (isRunning(child)) {
    child.kill('SIGKILL')
    await gone
  }
}

async function startPeer (name: 'reference' | 'hocuspocus'): Promise<RunningServer> {
  const { child, listening, exited } = spawnNode(['--import', 'tsx', join(REPO_ROOT, 'bench/sync/servers', `${name}.ts`)], serverEnv())
  try {
    const port = await Promise.race([listening, exited, timeout(READY_TIMEOUT_MS, 'no "listening" line')])
    return {
      name,
      pid: child.pid as number,
      port,
      target: { server: name, url: `ws://${HOST}:${port}/sync`, framing: name === 'hocuspocus' ? 'hocuspocus' : 'y-websocket', withIdentity: false },
      isRunning: () => isRunning(child),
      stop: async () => await stopChild(child)
    }
  } catch (error) {
    await stopChild(child)
    throw error
  }
}

/** Runs a CLI command to completion; resolves with null on success, else why it failed. */
async function runCli (args: string[], env: NodeJS.ProcessEnv): Promise<string | null> {
  const { child, exited } = spawnNode(['--import', 'tsx', MNEMO_CLI, ...args], env)
  child.stdin?.end()
  try {
    await Promise.race([exited, timeout(60_000, 'did not finish')])
  } catch (error) {
    if (child.exitCode === 0) return null
    await stopChild(child)
    return (error as Error).message
  }
  return null
}

/**
 * mnemo from source, on a fresh database: `migrate` first (a failure there is only noted,
 * since `serve` may migrate by itself), then `serve` through the tests' child-process helper
 * (test/fixtures/child.ts), ready once it logged "listening".
 * Its per-connection update rate limit is off unless MNEMO_RATE_UPDATES_PER_SEC is set.
 */
async function startMnemo (name: 'mnemo' | 'mnemo-hocuspocus'): Promise<RunningServer> {
  if (!existsSync(MNEMO_CLI)) throw new Error(`${MNEMO_CLI} does not exist yet`)
  const database = `bench_sync_${randomBytes(6).toString('hex')}`
  const databaseUrl = await createDatabase(database)
  try {
    // The peers limit nobody; so, unless the caller says otherwise, neither does mnemo here.
    const rateLimit = process.env.MNEMO_RATE_UPDATES_PER_SEC ?? '0'
    const env = { HOST, DATABASE_URL: databaseUrl, MNEMO_RATE_UPDATES_PER_SEC: rateLimit }
    // BENCH_SERVER_CPU_PROF=<dir>: a CPU profile of the mnemo server per run, written when it stops.
    const profileDir = process.env.BENCH_SERVER_CPU_PROF
    const nodeArgs = [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      // BENCH_SERVER_NODE_ARGS="--flag …": Node options for the mnemo server alone (NODE_OPTIONS would reach every process).
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
    ]
    const migrateFailure = await runCli(['migrate'], serverEnv({ ...env, LOG_LEVEL: 'warn' }))
    let server: ChildServer
    try {
      server = await Promise.race([
        startChildServer(env, { cli: MNEMO_CLI, baseEnv: serverEnv(), nodeArgs }),
        timeout(READY_TIMEOUT_MS, 'no "listening" line'),
      ])
    } catch (error) {
      const note = migrateFailure === null ? '' : `; before that, migrate failed: ${migrateFailure}`
      throw new Error(`${(error as Error).message}${note}`)
    }
    return {
      name,
      pid: server.pid,
      port: server.port,
      target: name === 'mnemo'
        ? { server: name, url: `ws://${HOST}:${server.port}/sync`, framing: 'y-websocket', withIdentity: true }
        : { server: name, url: `ws://${HOST}:${server.port}/hocuspocus`, framing: 'hocuspocus', withIdentity: true },
      database,
      metricsUrl: `http://${HOST}:${server.port}/metrics`,
      isRunning: () => server.alive(),
      stop: async () => {
        await server.stop(5_000)
        await dropDatabase(database)
      }
    }
  } catch (error) {
    await dropDatabase(database)
    throw error
  }
}

/** Starts a fresh instance of `name`; rejects with a readable reason when it cannot. */
export async function startServer (name: ServerName): Promise<RunningServer> {
  return name === 'mnemo' || name === 'mnemo-hocuspocus' ? await startMnemo(name) : await startPeer(name)
}
