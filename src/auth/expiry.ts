/**
 * Token expiry on connections that outlive their handshake: a sync socket or an SSE stream
 * opened with a token must end when the token does, not whenever the client leaves.
 */
import type { Identity } from './identity.js'

// setTimeout holds at most 2^31 − 1 ms (~24.8 days); longer waits are chained.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Calls `expired` once at the identity's `exp` (seconds since the epoch); never when it has
 * none (open mode). Returns the cancel function.
 *
 * @example
 * const stop = onExpiry(identity, () => closeConnection(conn, 4401, 'token expired'))
 */
export function onExpiry(identity: Pick<Identity, 'exp'>, expired: () => void, now: () => number = Date.now): () => void {
  if (identity.exp === undefined) return () => {}
  const at = identity.exp * 1000
  let timer: NodeJS.Timeout | undefined
  const arm = () => {
    const left = at - now()
    if (left <= 0) {
      timer = undefined
      expired()
      return
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS))
    timer.unref()
  }
  arm()
  return () => {
    if (timer) clearTimeout(timer)
    timer = undefined
  }
}
