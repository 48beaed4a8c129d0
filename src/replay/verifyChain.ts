/**
 * The hash-chain check of one session with progress reports, for long sessions checked from
 * a terminal (`mnemo verify --progress`). Same verdicts as `store.verify`: it is the same
 * `verifySession`, page by page, in constant memory.
 */
import type { EventStore, VerifyResult } from '../store/types.js'
import { verifySession } from '../store/verify.js'

/** Checks `session`'s chain; `onProgress(read)` is called after every page read. */
export async function verifyChain(
  store: EventStore, session: string, { onProgress, pageSize = 1000 }: { onProgress?(read: number): void; pageSize?: number } = {},
): Promise<VerifyResult> {
  let read = 0
  const head = await store.head(session)
  return verifySession(async (afterVersion) => {
    const events = await store.readVersions(session, { after: afterVersion, through: head?.version, limit: pageSize })
    read += events.length
    onProgress?.(read)
    return events
  }, head)
}
