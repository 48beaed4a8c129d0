/**
 * One process per PGlite data directory. PGlite is a single-process database: two processes on
 * one directory each keep their own buffers and WAL and corrupt the log between them. The lock is
 * a file `mnemo.lock` in the directory, created atomically (link(2), which fails if it exists)
 * and holding `{ pid, host, startedAt }`.
 *
 * A lock left by a process that died (kill -9, a crash) must not block the restart: on the same
 * host it is stale when its pid is not alive (or is our own pid — a restarted container often
 * gets the pid the crashed one had — while this process does not hold it); from another host
 * (a shared volume) it is stale once the holder stopped refreshing it for `staleMs`.
 */
import { linkSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

export const LOCK_FILE = 'mnemo.lock'

/** The error code a refused lock carries. */
export const DATA_DIR_LOCKED = 'data_dir_locked'

export class DataDirLockedError extends Error {
  readonly code = DATA_DIR_LOCKED
  constructor(readonly dataDir: string, readonly holder: LockRecord) {
    super(
      `MNEMO_DATA_DIR ${dataDir} is in use by process ${holder.pid}` +
        `${holder.host === hostname() ? '' : ` on ${holder.host}`} (since ${holder.startedAt}). ` +
        'The embedded database (PGlite) serves one process only: stop that process, or use another MNEMO_DATA_DIR; ' +
        'to run several instances, point them all at one PostgreSQL server with DATABASE_URL.',
    )
  }
}

export interface LockRecord {
  pid: number
  host: string
  startedAt: string
}

export interface DataDirLock {
  readonly path: string
  release(): void
}

/** Directories this process holds (so a second open in the same process is refused too). */
const held = new Set<string>()

/**
 * Takes the lock on `dataDir` or throws `DataDirLockedError` naming the holder.
 * @example
 * const lock = acquireDataDirLock('./data')
 * try { … } finally { lock.release() }
 */
export function acquireDataDirLock(dataDir: string, { refreshMs = 10_000, staleMs = 60_000 } = {}): DataDirLock {
  const path = join(resolve(dataDir), LOCK_FILE)
  const record: LockRecord = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }
  // Two tries: the second after removing a stale lock. Losing the race to another restarting
  // process then ends in EEXIST and a refusal naming it, which is the truth.
  for (let attempt = 0; ; attempt++) {
    try {
      // Written aside, then linked into place: the lock never exists half-written.
      const aside = `${path}.${process.pid}.${Date.now()}`
      writeFileSync(aside, JSON.stringify(record) + '\n', { flag: 'wx', mode: 0o644 })
      try {
        linkSync(aside, path)
      } finally {
        removeIfPresent(aside)
      }
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = readLock(path)
      if (attempt > 0 || (holder && !isStale(path, holder, staleMs))) {
        throw new DataDirLockedError(dataDir, holder ?? { pid: 0, host: 'unknown', startedAt: 'unknown' })
      }
      removeIfPresent(path)
    }
  }
  held.add(path)
  // Refreshing the file's mtime tells other hosts on a shared volume the holder is alive.
  const timer = setInterval(() => {
    try {
      const now = new Date()
      utimesSync(path, now, now)
    } catch {
      // The directory went away; nothing to refresh.
    }
  }, refreshMs)
  timer.unref()
  let released = false
  return {
    path,
    release() {
      if (released) return
      released = true
      clearInterval(timer)
      held.delete(path)
      // Only our own lock: a stale-lock takeover by another process must not be undone by us.
      const current = readLock(path)
      if (current?.pid === record.pid && current.startedAt === record.startedAt) removeIfPresent(path)
    },
  }
}

function readLock(path: string): LockRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockRecord>
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined
    return { pid: parsed.pid, host: parsed.host, startedAt: String(parsed.startedAt) }
  } catch {
    // Missing or unreadable (it is never written in place): stale.
    return undefined
  }
}

function isStale(path: string, holder: LockRecord, staleMs: number): boolean {
  if (holder.host !== hostname()) {
    try {
      return Date.now() - statSync(path).mtimeMs > staleMs
    } catch {
      return true
    }
  }
  if (holder.pid === process.pid) return !held.has(path)
  return !isAlive(holder.pid)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}
