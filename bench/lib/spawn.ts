/**
 * Runs a child process to completion and collects its output, with a time limit: for tools
 * such as pgbench that a benchmark uses as a reference.
 */
import { spawn } from 'node:child_process'

export interface CommandResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit. */
  ms: number
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Killed (SIGTERM, then SIGKILL after 2 s) when still running after this long. */
  timeoutMs?: number
  /** Called with the child's pid once it has started (e.g. to sample its CPU). */
  onStart?(pid: number): void
}

/** Resolves with the outcome whatever the exit code; rejects only when it cannot start. */
export function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    let killTimer: NodeJS.Timeout | undefined
    const limit = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      child.kill('SIGTERM')
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000)
    }, options.timeoutMs)
    child.once('error', (error) => {
      clearTimeout(limit)
      clearTimeout(killTimer)
      reject(new Error(`cannot run ${command}: ${error.message}`))
    })
    child.once('spawn', () => {
      if (child.pid !== undefined) options.onStart?.(child.pid)
    })
    child.once('close', (code, signal) => {
      clearTimeout(limit)
      clearTimeout(killTimer)
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started })
    })
  })
}
