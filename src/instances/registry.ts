/**
 * The instance registry (README "Running several instances"): every instance writes a heartbeat
 * row into `instances` (migration 0006) — its id, advertised URL, version, start, loaded
 * sessions, open sync connections and the log position its feed has read — and lists the live
 * ones: those whose last heartbeat is within three of their intervals. Rows of instances gone
 * for long are deleted by the others' heartbeats; a graceful shutdown deletes its own.
 */
import { readFileSync } from 'node:fs'
import type { SqlDriver } from '../store/types.js'
import type { Log } from '../collab/types.js'

export interface InstanceInfo {
  id: string
  url: string
  version: string
  startedAt: string
  lastSeen: string
  sessions: number
  connections: number
  /** How far its feed has read the log. */
  position: number
  /** The log's head minus `position`. */
  lag: number
}

export interface InstanceStats {
  sessions: number
  connections: number
  position: number
}

export interface InstanceRegistry {
  readonly id: string
  /** The live instances, this one included, with their lag behind `head`. */
  list(head: number): Promise<InstanceInfo[]>
  /** What the last heartbeat saw (for the metrics); empty before it. */
  lastSeen(): InstanceInfo[]
  /** Stops heartbeating and removes this instance's row. */
  close(): Promise<void>
}

export interface RegistryOptions {
  driver: SqlDriver
  id: string
  url: string
  heartbeatMs: number
  /** Read at every heartbeat. */
  stats: () => Promise<InstanceStats>
  /** The log's head, for the lag the metrics show. */
  head: () => Promise<number>
  log: Log
}

/** This build's version (package.json: two levels up from src/instances and dist/instances). */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
})()

interface Row {
  id: string
  url: string
  version: string
  started_at: string
  last_seen: string
  sessions: number
  connections: number
  position: string
}

/** Starts heartbeating (the first one before it resolves). */
export async function startInstanceRegistry({ driver, id, url, heartbeatMs, stats, head, log }: RegistryOptions): Promise<InstanceRegistry> {
  const startedAt = new Date().toISOString()
  let seen: InstanceInfo[] = []
  let closed = false

  async function list(headPosition: number): Promise<InstanceInfo[]> {
    const rows = await driver.query<Row>(`SELECT id, url, version, started_at::text, last_seen::text, sessions, connections, position::text
      FROM instances WHERE last_seen > now() - make_interval(secs => heartbeat_ms * 3 / 1000.0) ORDER BY started_at, id`)
    return rows.map((row) => ({
      id: row.id,
      url: row.url,
      version: row.version,
      startedAt: new Date(row.started_at).toISOString(),
      lastSeen: new Date(row.last_seen).toISOString(),
      sessions: row.sessions,
      connections: row.connections,
      position: Number(row.position),
      lag: Math.max(0, headPosition - Number(row.position)),
    }))
  }

  async function beat(): Promise<void> {
    const s = await stats()
    await driver.query(`INSERT INTO instances (id, url, version, started_at, last_seen, heartbeat_ms, sessions, connections, position)
      VALUES ($1, $2, $3, $4::timestamptz, now(), $5, $6, $7, $8)
      ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, version = EXCLUDED.version, last_seen = now(),
        heartbeat_ms = EXCLUDED.heartbeat_ms, sessions = EXCLUDED.sessions, connections = EXCLUDED.connections, position = EXCLUDED.position`,
    [id, url, VERSION, startedAt, heartbeatMs, s.sessions, s.connections, s.position])
    // Gone for a hundred heartbeats (its own): nobody will ask for it any more.
    await driver.query(`DELETE FROM instances WHERE last_seen < now() - make_interval(secs => heartbeat_ms * 100 / 1000.0)`)
    seen = await list(await head())
  }

  await beat()
  let running: Promise<void> = Promise.resolve()
  const timer = setInterval(() => {
    running = beat().catch((error: unknown) => log.warn({ err: error }, 'instance registry: heartbeat failed, retrying'))
  }, heartbeatMs)
  timer.unref()

  return {
    id,
    list,
    lastSeen: () => seen,
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      await running
      await driver.query('DELETE FROM instances WHERE id = $1', [id]).catch((error: unknown) => {
        log.warn({ err: error }, 'instance registry: could not remove this instance; it drops out after three heartbeats')
      })
    },
  }
}
