/**
 * The event log every composition root opens — the server, every CLI command, import: the
 * configured store with the memory projection as its append hook (passed at open, so no
 * writer can forget it), caught up on what an older writer left unfolded.
 */
import { catchUpProjection, createProjectionHook } from './memory/projection.js'
import { openStore, type StoreConfig } from './store/openStore.js'
import type { EventStore } from './store/types.js'

/**
 * @example
 * const store = await openEventLog({ databaseUrl: process.env.DATABASE_URL })
 */
export async function openEventLog(config: StoreConfig): Promise<EventStore> {
  const store = await openStore({ ...config, hooks: [createProjectionHook(), ...(config.hooks ?? [])] })
  try {
    await catchUpProjection(store.driver)
  } catch (error) {
    await store.close().catch(() => {})
    throw error
  }
  return store
}
