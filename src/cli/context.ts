/** What CLI commands share: loading the config (clean errors) and opening the configured store. */
import { loadConfig, type Config } from '../config.js'
import { openEventLog } from '../openEventLog.js'
import type { EventStore } from '../store/types.js'

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message)
  }
}

export function cliConfig(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env)
  } catch (error) {
    throw new CliError(`configuration: ${(error as Error).message}`)
  }
}

/**
 * Opens the event log named by DATABASE_URL / MNEMO_DATA_DIR (with the memory projection, as
 * the server opens it), runs `fn`, always closes it.
 */
export async function withStore<T>(fn: (store: EventStore, config: Config) => Promise<T>, env = process.env): Promise<T> {
  const config = cliConfig(env)
  let store: EventStore
  try {
    store = await openEventLog({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.dbSchema, poolSize: 2 })
  } catch (error) {
    throw new CliError(`cannot open the event store (${config.databaseUrl ? 'DATABASE_URL' : `PGlite in ${config.dataDir}`}): ${(error as Error).message}`)
  }
  try {
    return await fn(store, config)
  } finally {
    await store.close()
  }
}
