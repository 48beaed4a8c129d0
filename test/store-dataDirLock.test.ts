/**
 * Hostile defect 1: two processes on one PGlite data directory corrupted the log. A second
 * process must refuse to start, naming the holder and pointing to PostgreSQL; a lock left by
 * a process that died must not block the restart.
 */
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises'
import { tmpdir, hostname } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acquireDataDirLock, LOCK_FILE } from '../src/store/dataDirLock.js'
import { openStore } from '../src/store/openStore.js'
import { startChildServer, type ChildServer } from './fixtures/child.js'

describe('the PGlite data directory lock', () => {
  let dir: string
  const servers: ChildServer[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mnemo-lock-'))
  })
  afterAll(async () => {
    for (const s of servers) await s.kill()
    await rm(dir, { recursive: true, force: true })
  })

  it('a second process on a served directory refuses to start, naming the first; after a kill -9 the directory opens again', async () => {
    const first = await startChildServer({ MNEMO_DATA_DIR: dir })
    servers.push(first)

    // What `mnemo serve` prints (`mnemo: <message>`, exit 1) when the store does not open.
    const second = openStore({ dataDir: dir })
    await expect(second).rejects.toMatchObject({ code: 'data_dir_locked' })
    await expect(second).rejects.toThrow(new RegExp(`in use by process ${first.pid}\\b.*PostgreSQL.*DATABASE_URL`, 's'))

    await first.kill('SIGKILL')
    // The dead process's lock is still on disk; it must not block.
    expect(await readdir(dir)).toContain(LOCK_FILE)
    const store = await openStore({ dataDir: dir })
    await store.append('s1', [{ type: 'note.added', data: {}, actor: { id: 't', name: 't', kind: 'human' } }])
    await store.close()
    expect(await readdir(dir)).not.toContain(LOCK_FILE)
  }, 60_000)

  it('a lock naming a dead pid, or our own pid while we do not hold it, is stale', async () => {
    const other = await mkdtemp(join(tmpdir(), 'mnemo-lock-'))
    try {
      const dead = spawnSync(process.execPath, ['-e', '0']).pid
      await writeFile(join(other, LOCK_FILE), JSON.stringify({ pid: dead, host: hostname(), startedAt: 'then' }))
      acquireDataDirLock(other).release()
      // A restarted container often gets the pid the crashed process had.
      await writeFile(join(other, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: 'then' }))
      const lock = acquireDataDirLock(other)
      expect(() => acquireDataDirLock(other)).toThrow(`in use by process ${process.pid}`)
      lock.release()
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })

  it('a lock from another host is honoured while it is refreshed, stale once it is not', async () => {
    const other = await mkdtemp(join(tmpdir(), 'mnemo-lock-'))
    try {
      await writeFile(join(other, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 'now' }))
      expect(() => acquireDataDirLock(other)).toThrow(/in use by process 1 on elsewhere/)
      acquireDataDirLock(other, { staleMs: -1 }).release()
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })
})
