/**
 * Limits shared by every instance through Redis (`MNEMO_REDIS_URL`): the per-identity HTTP
 * rate and the per-session connection cap then mean the same behind a load balancer as on one
 * instance. Without Redis each instance counts its own (README "Running several instances").
 *
 * - **The HTTP rate**: one token bucket per caller in a Redis hash, taken by a script that runs
 *   atomically on Redis' own clock (instances whose clocks disagree still share one bucket).
 * - **The connection cap**: a hash per session, one field per instance holding how many of the
 *   session's sync connections it has open. Admission sums the fields of live instances and
 *   takes a slot only when the sum is under the cap, in one script. An instance proves it is
 *   alive with a key it renews every `heartbeatMs`; a killed one's slots stop counting when its
 *   key expires (3 heartbeats). Every heartbeat also rewrites this instance's fields from its own
 *   counts, so a Redis that restarted, or a release that never arrived, heals within one beat.
 *
 * Redis is an accelerator, not a dependency of correctness: when it does not answer, a request
 * or a connection is judged by this instance's own counts (the caller's fallback), and a
 * warning is logged once a minute at most.
 */
import type { Redis } from 'ioredis'
import type { Log } from '../collab/types.js'

// KEYS[1]: the bucket. ARGV: rate a second, burst. Returns { taken (0|1), ms until one is there }.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(v[1]) or burst, tonumber(v[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000); at = now end
local taken, wait = 0, 0
if tokens >= 1 then tokens = tokens - 1; taken = 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return { taken, wait }
`

// KEYS[1]: the session's hash. ARGV: this instance, the cap, the prefix of instances' alive keys.
// Fields of instances whose alive key is gone are removed as they are met.
const ADMIT = `
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  local instance = fields[i]
  if instance == ARGV[1] or redis.call('EXISTS', ARGV[3] .. instance) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], instance)
  end
end
if total >= tonumber(ARGV[2]) then return { 0, total } end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return { 1, total + 1 }
`

const RELEASE = `
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return left
`

export interface RateVerdict {
  taken: boolean
  /** Milliseconds until the caller may try again (0 when taken). */
  waitMs: number
}

export interface SharedLimits {
  /** Takes one request from `key`'s bucket, shared by all instances. Rejects when Redis does not answer. */
  takeRate(key: string, perSec: number, burst: number): Promise<RateVerdict>
  /** A slot among the session's `max` connections across instances; false when they are all taken. Rejects when Redis does not answer. */
  admitConnection(session: string, max: number): Promise<boolean>
  /** Gives back a slot `admitConnection` granted. */
  releaseConnection(session: string): void
  /** Logs that Redis failed (at most once a minute), for callers that then fall back. */
  warn(error: unknown, what: string): void
  /** Stops the heartbeat, gives back this instance's slots and disconnects. */
  close(): Promise<void>
}

export interface SharedLimitsOptions {
  redis: Redis
  /** Put before every key (MNEMO_REDIS_PREFIX). */
  prefix: string
  instanceId: string
  log: Log
  /** How often this instance says it is alive and rewrites its counts; default 5 s. */
  heartbeatMs?: number
}

export function createSharedLimits({ redis, prefix, instanceId, log, heartbeatMs = 5_000 }: SharedLimitsOptions): SharedLimits {
  const aliveKey = (instance: string) => `${prefix}alive:${instance}`
  const sessionKey = (session: string) => `${prefix}conns:${session}`
  const aliveMs = 3 * heartbeatMs
  // This instance's slots per session: the truth its fields in Redis are rewritten from.
  const held = new Map<string, number>()
  let warnedAt = -Infinity

  const warn = (error: unknown, what: string): void => {
    const now = Date.now()
    if (now - warnedAt < 60_000) return
    warnedAt = now
    log.warn({ err: error }, `redis: ${what} failed; counting on this instance alone until it answers`)
  }

  async function beat(): Promise<void> {
    const pipeline = redis.multi().set(aliveKey(instanceId), '1', 'PX', aliveMs)
    for (const [session, count] of held) pipeline.hset(sessionKey(session), instanceId, count).pexpire(sessionKey(session), aliveMs)
    await pipeline.exec()
  }
  const first = beat().catch((error: unknown) => warn(error, 'the limits heartbeat'))
  const timer = setInterval(() => void beat().catch((error: unknown) => warn(error, 'the limits heartbeat')), heartbeatMs)
  timer.unref()

  return {
    warn,
    async takeRate(key, perSec, burst) {
      const [taken, waitMs] = (await redis.eval(TAKE, 1, `${prefix}rate:${key}`, perSec, burst)) as [number, number]
      return { taken: taken === 1, waitMs }
    },
    async admitConnection(session, max) {
      await first
      const [admitted] = (await redis.eval(ADMIT, 1, sessionKey(session), instanceId, max, `${prefix}alive:`, aliveMs)) as [number, number]
      if (admitted !== 1) return false
      held.set(session, (held.get(session) ?? 0) + 1)
      return true
    },
    releaseConnection(session) {
      const count = held.get(session)
      if (count === undefined) return
      if (count <= 1) held.delete(session)
      else held.set(session, count - 1)
      // A release that fails is healed by the next heartbeat, which writes `held` again.
      redis.eval(RELEASE, 1, sessionKey(session), instanceId).catch((error: unknown) => warn(error, 'releasing a connection slot'))
    },
    async close() {
      clearInterval(timer)
      const pipeline = redis.multi().del(aliveKey(instanceId))
      for (const session of held.keys()) pipeline.hdel(sessionKey(session), instanceId)
      held.clear()
      await pipeline.exec().catch((error: unknown) => warn(error, 'giving back connection slots'))
      redis.disconnect()
    },
  }
}
