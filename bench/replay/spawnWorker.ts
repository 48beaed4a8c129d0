/**
 * Runs bench/replay/worker.ts in a child process and measures, beside what the worker
 * reports, how much CPU it and the PostgreSQL server used meanwhile (2 cores are shared).
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startCpuSampler } from '../lib/cpu.js'
import { databaseProcesses } from '../lib/database.js'
import type { WorkerResult } from './worker.js'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.ts')

export interface WorkerRun extends WorkerResult {
  /** Shares of one core over the run: the worker, PostgreSQL, everything else. */
  cpu: { worker: number; postgres: number; others: number }
}

/** `databaseUrl`: the database the worker works on, whose server processes are counted. */
export async function runWorker(args: string[], databaseUrl: string): Promise<WorkerRun> {
  const server = databaseProcesses(databaseUrl)
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const workerCpu = startCpuSampler({ trackedPids: async () => [child.pid!], intervalMs: 100 })
  const postgresCpu = startCpuSampler({ trackedPids: () => server.pids(), intervalMs: 250 })
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  try {
    const code = await new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(null))
      child.on('close', resolve)
    })
    const [worker, postgres] = [await workerCpu.stop(), await postgresCpu.stop()]
    if (code !== 0) throw new Error(`worker ${args[0]} exited with ${code}`)
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as WorkerResult
    const others = Math.max(0, worker.machine - worker.tracked - postgres.tracked)
    return { ...result, cpu: { worker: worker.tracked, postgres: postgres.tracked, others } }
  } finally {
    await server.close()
  }
}
