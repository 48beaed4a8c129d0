/**
 * Opens the configured store: PostgreSQL when a URL is given, else embedded PGlite in a data
 * directory, locked to this process (`dataDirLock.ts`). The same migrations and the same store
 * code serve both.
 */
import { mkdir } from 'node:fs/promises'
import type { BatchObserver } from './appendEvents.js'
import { createEventStore } from './createEventStore.js'
import { acquireDataDirLock } from './dataDirLock.js'
import { migrate } from './migrate.js'
import type { PGlite } from '@electric-sql/pglite'
import { openPgliteDriver } from './pgliteDriver.js'
import { openPostgresDriver } from './postgresDriver.js'
import type { AppendHook, EventStore, SqlDriver } from './types.js'

export interface StoreConfig {
  /** postgres://… — a real server. Absent: embedded PGlite. */
  databaseUrl?: string
  /** PGlite data directory (`memory://` for a throwaway one). */
  dataDir?: string
  /** An already open PGlite to use instead of `dataDir` (tests); it stays open when the store closes. */
  pglite?: () => Promise<PGlite>
  /** Schema to live in (tests), on PostgreSQL or a given PGlite. Must already exist. */
  schema?: string
  poolSize?: number
  pollMs?: number
  /** How often the store announces itself to the others on the log's channel, in ms (createEventStore.ts; default 20,000). */
  announceEveryMs?: number
  onError?(error: unknown): void
  /** PostgreSQL: told, with why, each time the LISTEN connection was found dead and replaced (postgresDriver.ts). */
  onListenRenewed?(reason: string): void
  /** PostgreSQL: how often LISTEN is proven alive, in ms (default 5,000; 0: never). */
  listenCheckMs?: number
  /** Work done in every append transaction (the memory projection): passed at open, so every writer has it. */
  hooks?: readonly AppendHook[]
  /** Told of every append batch written (metrics). */
  observeBatch?: BatchObserver
  /** Whether other instances read this log, so that commits carry their events (createEventStore.ts). */
  carryCommits?: () => boolean
}

export async function openDriver(config: StoreConfig): Promise<SqlDriver> {
  if (config.databaseUrl) {
    return openPostgresDriver({
      url: config.databaseUrl, schema: config.schema, max: config.poolSize,
      listenCheckMs: config.listenCheckMs, onListenRenewed: config.onListenRenewed,
    })
  }
  if (config.pglite) return openPgliteDriver(await config.pglite(), config.schema)
  const dataDir = config.dataDir ?? './data'
  if (dataDir.startsWith('memory://')) return openPgliteDriver(dataDir)
  await mkdir(dataDir, { recursive: true })
  // Before PGlite touches the directory: a second process must not even recover its WAL.
  const lock = acquireDataDirLock(dataDir)
  let driver: SqlDriver
  try {
    driver = await openPgliteDriver(dataDir)
  } catch (error) {
    lock.release()
    throw error
  }
  return {
    ...driver,
    async close() {
      try {
        await driver.close()
      } finally {
        lock.release()
      }
    },
  }
}

/** The LISTEN/NOTIFY channel of a schema's log: one per schema, so test schemas do not wake each other. */
export function notifyChannel(schema = 'public'): string {
  return `mnemo_events_${schema.toLowerCase()}`.slice(0, 63)
}

/** Opens the driver, applies pending migrations and returns the store. */
export async function openStore(config: StoreConfig): Promise<EventStore> {
  const driver = await openDriver(config)
  try {
    await migrate(driver)
    return await createEventStore(driver, {
      channel: notifyChannel(config.schema),
      pollMs: config.pollMs,
      announceEveryMs: config.announceEveryMs,
      onError: config.onError,
      hooks: config.hooks,
      observeBatch: config.observeBatch,
      carryCommits: config.carryCommits,
    })
  } catch (error) {
    await driver.close().catch(() => {})
    throw error
  }
}
