/**
 * The token bucket that limits rates, for HTTP callers and sync connections alike. It never
 * reads the clock: every call says what time it is (milliseconds), so callers own their clock
 * and tests step time without sleeping.
 */

export interface TokenBucket {
  /** Takes `cost` tokens when there are that many at `now`; false (nothing taken) when not. */
  take(now: number, cost?: number): boolean
  /** Milliseconds from `now` until `cost` tokens are there (0 when they are now). */
  waitMs(now: number, cost?: number): number
  /** Whether the bucket has refilled completely by `now`: it then remembers nothing worth keeping. */
  full(now: number): boolean
}

/**
 * A bucket of `burst` tokens, full at `start`, refilled at `perSec` tokens a second.
 * `perSec = 0` means no limit. Time going backwards refills nothing.
 *
 * @example
 * const bucket = createTokenBucket(200, 400, Date.now())
 * if (!bucket.take(Date.now())) dropIt()
 */
export function createTokenBucket(perSec: number, burst: number, start: number): TokenBucket {
  let tokens = burst
  let at = start
  const refill = (now: number): void => {
    if (now > at) tokens = Math.min(burst, tokens + ((now - at) * perSec) / 1000)
    at = Math.max(at, now)
  }
  return {
    take(now, cost = 1) {
      if (perSec === 0) return true
      refill(now)
      if (tokens < cost) return false
      tokens -= cost
      return true
    },
    waitMs(now, cost = 1) {
      if (perSec === 0) return 0
      refill(now)
      return tokens >= cost ? 0 : Math.ceil(((cost - tokens) * 1000) / perSec)
    },
    full(now) {
      refill(now)
      return tokens >= burst
    },
  }
}
