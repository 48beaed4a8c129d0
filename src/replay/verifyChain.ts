/**
 * The hash-chain check of one session with progress reports, for long sessions checked from
 * a terminal (`mnemo verify --progress`). Same verdicts as `store.verify`: it uses the same
 * checker, page by page, in constant memory.
 */
import type { EventStore, VerifyResult } from '../store/types.js'
import { createChainChecker } from '../store/verify.js'
import { readTimeline } from './timeline.js'

/** Checks `session`'s chain; `onProgress(checked)` is called after every page. */
export async function verifyChain(
  store: EventStore, session: string, { onProgress, pageSize = 1000 }: { onProgress?(checked: number): void; pageSize?: number } = {},
): Promise<VerifyResult> {
  const checker = createChainChecker()
  let checked = 0
  for await (const event of readTimeline(store, session, { pageSize })) {
    if (!checker.check(event)) return checker.result()
    if (++checked % pageSize === 0) onProgress?.(checked)
  }
  onProgress?.(checked)
  return checker.result()
}
