/**
 * Re-computes a session's hash chain from its stored events and names the first bad version,
 * and compares the chain's end with the session's recorded head (version and hash), so that a
 * cut tail — the newest events gone, every remaining link intact — is reported too.
 */
import { chainHash, GENESIS_HASH } from './hash.js'
import { jsonData } from './rows.js'
import type { StoredEvent, VerifyResult } from './types.js'

export interface ChainChecker {
  /** Feeds the next event in version order; returns false at the first bad one. */
  check(event: Pick<StoredEvent, 'id' | 'session' | 'version' | 'type' | 'data' | 'actor' | 'meta' | 'recordedAt' | 'hash' | 'prevHash'> & { payload?: Uint8Array }): boolean
  /** Compares the chain checked so far with the head it must end at; false when it does not. */
  checkEnd(head: ChainEnd): boolean
  result(): VerifyResult
}

/** Where a chain must end: the session's head row, or an export's final head record. */
export interface ChainEnd {
  version: number
  hash: string
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
    checkEnd(head) {
      if (bad) return false
      const last = expectedVersion - 1
      if (last < head.version) {
        bad = {
          version: last + 1,
          reason: `the chain ends at version ${last} but the head records version ${head.version}: ` +
            `version${head.version > last + 1 ? `s ${last + 1}–${head.version} are` : ` ${last + 1} is`} missing (the tail was cut)`,
        }
      } else if (last > head.version) {
        bad = { version: head.version + 1, reason: `the chain goes on past the head's version ${head.version} (to ${last})` }
      } else if (prev !== head.hash) {
        bad = { version: last, reason: `version ${last}: its hash differs from the one the head records` }
      }
      return !bad
    },
    result() {
      return bad ? { ok: false, checked, firstBad: bad.version, reason: bad.reason } : { ok: true, checked }
    },
  }
}

/**
 * Checks the chain page by page; with `head`, the pages are read up to `head.version` only
 * (appends meanwhile belong to the next check) and the chain must end there, on its hash.
 */
export async function verifySession(
  readPage: (afterVersion: number) => Promise<StoredEvent[]>,
  head?: ChainEnd,
): Promise<VerifyResult> {
  const checker = createChainChecker()
  let afterVersion = 0
  for (;;) {
    const page = await readPage(afterVersion)
    for (const event of page) {
      if (!checker.check(event)) return checker.result()
      afterVersion = event.version
    }
    if (page.length === 0) {
      if (head) checker.checkEnd(head)
      return checker.result()
    }
  }
}
