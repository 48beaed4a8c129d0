/** Re-computes a session's hash chain from its stored events and names the first bad version. */
import { chainHash, GENESIS_HASH } from './hash.js'
import { jsonData } from './rows.js'
import type { StoredEvent, VerifyResult } from './types.js'

export interface ChainChecker {
  /** Feeds the next event in version order; returns false at the first bad one. */
  check(event: Pick<StoredEvent, 'id' | 'session' | 'version' | 'type' | 'data' | 'actor' | 'meta' | 'recordedAt' | 'hash' | 'prevHash'> & { payload?: Uint8Array }): boolean
  result(): VerifyResult
}

export function createChainChecker(): ChainChecker {
  let prev = GENESIS_HASH
  let expectedVersion = 1
  let checked = 0
  let bad: { version: number; reason: string } | undefined
  return {
    check(event) {
      if (bad) return false
      checked += 1
      const fields = {
        id: event.id, session: event.session, version: event.version, type: event.type,
        data: jsonData(event.data, event.payload), actor: event.actor, meta: event.meta, recordedAt: event.recordedAt,
      }
      if (event.version !== expectedVersion) {
        bad = { version: expectedVersion, reason: `version ${expectedVersion} is missing (found ${event.version})` }
      } else if (event.prevHash !== prev) {
        bad = { version: event.version, reason: `version ${event.version}: prevHash does not match the hash of version ${event.version - 1}` }
      } else if (chainHash(prev, fields) !== event.hash) {
        bad = { version: event.version, reason: `version ${event.version}: hash does not match its content` }
      }
      prev = event.hash
      expectedVersion += 1
      return !bad
    },
    result() {
      return bad ? { ok: false, checked, firstBad: bad.version, reason: bad.reason } : { ok: true, checked }
    },
  }
}

export async function verifySession(
  readPage: (afterVersion: number) => Promise<StoredEvent[]>,
): Promise<VerifyResult> {
  const checker = createChainChecker()
  let afterVersion = 0
  for (;;) {
    const page = await readPage(afterVersion)
    for (const event of page) {
      if (!checker.check(event)) return checker.result()
      afterVersion = event.version
    }
    if (page.length === 0) return checker.result()
  }
}
