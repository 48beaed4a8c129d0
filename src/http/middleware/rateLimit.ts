/**
 * The HTTP request rate per caller: one token bucket per identity (its id; the remote address
 * for the public paths, which have none). Over it: 429 with `Retry-After` in whole seconds.
 * With `shared` (Redis), the bucket is one for all instances; when Redis does not answer, this
 * instance's own bucket decides.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { createTokenBucket, type TokenBucket } from '../../tokenBucket.js'
import type { SharedLimits } from '../../control/sharedLimits.js'
import { HttpError } from '../errors.js'

export interface RateLimitOptions {
  /** Requests a second per caller; 0: no limit. */
  perSec: number
  /** Requests a caller may make at once above that rate. */
  burst: number
  /** Whose bucket a request draws from; default: its identity's id, else its address. */
  keyOf?: (c: Context) => string
  /** Callers remembered before idle ones are forgotten; default 10,000. */
  maxKeys?: number
  /** The time in milliseconds; default `Date.now` (tests step their own). */
  clock?: () => number
  /** Buckets shared by every instance (Redis). */
  shared?: SharedLimits
}

/**
 * Mount after `identify`, so the identity is known.
 *
 * @example
 * app.use(identify(authenticate))
 * app.use(rateLimit({ perSec: 100, burst: 200 }))
 */
export const rateLimit = ({ perSec, burst, keyOf = callerKey, maxKeys = 10_000, clock = Date.now, shared }: RateLimitOptions): MiddlewareHandler => {
  const buckets = new Map<string, TokenBucket>()

  /** Forgets full buckets (a fresh one is the same), then, under a flood of callers, the oldest. */
  const prune = (now: number): void => {
    for (const [key, bucket] of buckets) if (bucket.full(now)) buckets.delete(key)
    for (const key of buckets.keys()) {
      if (buckets.size <= maxKeys / 2) break
      buckets.delete(key)
    }
  }

  /** Milliseconds until the caller may try again, by this instance's own bucket; 0: take it. */
  const takeLocal = (key: string): number => {
    const now = clock()
    let bucket = buckets.get(key)
    if (!bucket) {
      if (buckets.size >= maxKeys) prune(now)
      bucket = createTokenBucket(perSec, burst, now)
      buckets.set(key, bucket)
    }
    return bucket.take(now) ? 0 : bucket.waitMs(now)
  }

  const take = async (key: string): Promise<number> => {
    if (!shared) return takeLocal(key)
    try {
      const verdict = await shared.takeRate(key, perSec, burst)
      return verdict.taken ? 0 : Math.max(1, verdict.waitMs)
    } catch (error) {
      shared.warn(error, 'the shared HTTP rate limit')
      return takeLocal(key)
    }
  }

  return async function rateLimit(c, next) {
    if (perSec === 0) return next()
    const waitMs = await take(keyOf(c))
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000))
      throw new HttpError(429, 'rate_limited',
        `more than ${perSec} requests a second (MNEMO_RATE_HTTP_PER_SEC); retry after ${seconds} s`, { 'Retry-After': String(seconds) })
    }
    return next()
  }
}

function callerKey(c: Context): string {
  const identity = c.get('identity') as { id: string } | undefined
  if (identity) return `id:${identity.id}`
  // @hono/node-server hands over the Node request as `env.incoming`; app.request() has none.
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
  return `addr:${incoming?.socket?.remoteAddress ?? 'unknown'}`
}
