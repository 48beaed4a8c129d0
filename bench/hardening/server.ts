/**
 * `mnemo serve` in a child process for the hardening benchmarks: on PostgreSQL in a fresh
 * schema when DATABASE_URL or TEST_DATABASE_URL is set, else on PGlite in memory; and raw
 * y-websocket connections to it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import WebSocket from 'ws'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const DATABASE_URL = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export async function startServer(
  env: Record<string, string>, { pglite = false }: { pglite?: boolean } = {},
): Promise<{ child: ChildProcess; port: number; stop(): Promise<void> }> {
  const port = await freePort()
  const url = pglite ? undefined : DATABASE_URL
  let schema: string | undefined
  if (url) {
    schema = `bench_${randomBytes(4).toString('hex')}`
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    await sql.unsafe(`CREATE SCHEMA ${schema}`)
    await sql.end()
  }
  // BENCH_CPU_PROF=<dir> writes each server's CPU profile there (node --cpu-prof) when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const child = spawn(process.execPath, [
    ...profile, '--expose-gc', '--import', 'tsx', '--import', './bench/hardening/gc-on-signal.ts', 'src/cli/index.ts', 'serve',
  ], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', MNEMO_AUTH_SECRET: '',
      ...(url ? { DATABASE_URL: url, MNEMO_DB_SCHEMA: schema } : { DATABASE_URL: '', MNEMO_DATA_DIR: 'memory://' }),
      ...env,
    },
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`the server did not start within 30 s:\n${stderr}`)
    await sleep(100)
  }
  return {
    child,
    port,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
      if (schema) {
        const sql = postgres(url!, { max: 1, onnotice: () => {} })
        await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
        await sql.end()
      }
    },
  }
}

/** A raw y-websocket connection, resolved once the server's sync step 1 arrived (joined). */
export function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('message', () => resolve(ws)) // the server's sync step 1: joined
    ws.once('error', reject)
  })
}
