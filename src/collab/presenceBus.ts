/**
 * The transport that carries presence between instances (README "Running several instances"):
 * one topic per session, so an instance hears only the sessions it has loaded. Messages are
 * ephemeral: nobody who was not listening gets them later, and nothing is written to the log.
 *
 * - PostgreSQL (the default with `DATABASE_URL`): NOTIFY on a channel of the session's own,
 *   apart from the store's. A payload longer than NOTIFY takes (8,000 bytes) waits in the
 *   `presence_spill` table and the notification carries its id.
 * - Redis pub/sub (`MNEMO_REDIS_URL`), through ioredis.
 * PGlite is one process: it needs no bus.
 */
import { createHash } from 'node:crypto'
// ioredis is loaded when Redis is configured: importing it costs ~60 ms and ~10 MB of memory
// at startup, which a server without MNEMO_REDIS_URL (the default) need not pay.
import type { Redis } from 'ioredis'
import type { SqlDriver } from '../store/types.js'
import type { Log } from './types.js'

export interface PresenceBus {
  /** Longest message (bytes) the transport carries as it is; a longer one takes a slower path. */
  readonly maxMessageBytes: number
  /** Hands `session`'s messages (this instance's own included) to `onMessage` until the result is called. */
  join(session: string, onMessage: (message: string) => void): Promise<() => Promise<void>>
  /** Sends a message to every instance that joined `session`; a failure is logged, never thrown. */
  publish(session: string, message: string): void
  /** Waits for the messages being sent, then stops listening. */
  close(): Promise<void>
}

/** NOTIFY's payload limit is 8,000 bytes; the rest is headroom. */
const NOTIFY_LIMIT = 7800
const SPILL_PREFIX = '@'
/** At most this many notifications (about 4 MB at the payload limit) go in one statement. */
const MAX_NOTIFICATIONS_PER_STATEMENT = 512
/**
 * One statement sends every notification of a tick, in order (PostgreSQL delivers one
 * transaction's notifications in the order they were made, and folds identical ones, which say
 * the same thing): each session's batch would otherwise be a round trip of its own, and 100 rooms
 * renewing their states every few seconds are 100 of them.
 */
const NOTIFY_ALL = 'SELECT count(pg_notify(n.channel, n.payload)) FROM unnest($1::text[], $2::text[]) AS n(channel, payload)'

/** The NOTIFY channel of one session's presence in one schema (63 bytes at most, any session id). */
export function presenceChannel(schema: string, session: string): string {
  return `mnemo_aw_${createHash('sha256').update(`${schema}\0${session}`).digest('hex').slice(0, 40)}`
}

export function createPostgresBus(driver: SqlDriver, { schema = 'public', log }: { schema?: string; log: Log }): PresenceBus {
  let lastSweep = 0
  // Messages not sent yet, in the order they were published. Each tick's go in one statement, sent
  // without waiting for the one before (awareness states carry clocks: a late one is dropped, so
  // two ticks' statements may commit in either order). A long message (spilled: two statements)
  // keeps its place: it waits for the statements before it, and the ones after it wait for it.
  const waiting: { channel: string; message: string; long: boolean }[] = []
  const inFlight = new Set<Promise<void>>()
  let flushing: Promise<void> | undefined
  const failed = (error: unknown) => log.warn({ err: error }, 'presence: sending to the other instances failed')

  async function spill(channel: string, message: string): Promise<void> {
    const now = Date.now()
    if (now - lastSweep > 10_000) {
      lastSweep = now
      await driver.query(`DELETE FROM presence_spill WHERE created_at < now() - interval '1 minute'`)
    }
    const [row] = await driver.query<{ id: string }>('INSERT INTO presence_spill (payload) VALUES ($1) RETURNING id::text AS id', [message])
    await driver.query('SELECT pg_notify($1, $2)', [channel, SPILL_PREFIX + row!.id])
  }

  async function flush(): Promise<void> {
    while (waiting.length > 0) {
      if (waiting[0]!.long) {
        await Promise.all(inFlight)
        const { channel, message } = waiting.shift()!
        await spill(channel, message).catch(failed)
        continue
      }
      let count = 0
      while (count < waiting.length && count < MAX_NOTIFICATIONS_PER_STATEMENT && !waiting[count]!.long) count += 1
      const batch = waiting.splice(0, count)
      const sent = driver.query(NOTIFY_ALL, [batch.map((m) => m.channel), batch.map((m) => m.message)]).then(() => {}, failed)
      inFlight.add(sent)
      void sent.finally(() => inFlight.delete(sent))
    }
  }

  /** Sends what waits once this tick ends (a tick's messages go together), unless a long message is being sent: its loop takes them. */
  function schedule(): void {
    if (flushing || waiting.length === 0) return
    flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(flush).finally(() => {
      flushing = undefined
      schedule() // published while a long message was being sent
    })
  }

  return {
    maxMessageBytes: NOTIFY_LIMIT,
    async join(session, onMessage) {
      // Handed on in the order notified: a long message's read holds back the ones after it.
      let behind: Promise<void> | undefined
      const inTurn = (work: () => unknown) => {
        const tail: Promise<void> = (behind ?? Promise.resolve()).then(work).then(
          () => {},
          (error: unknown) => log.warn({ err: error, session }, 'presence: reading a long message failed'),
        ).finally(() => {
          if (behind === tail) behind = undefined
        })
        behind = tail
      }
      const unlisten = await driver.listen(presenceChannel(schema, session), (payload) => {
        if (payload === '') return // the driver's wake-up after it listened again
        if (!payload.startsWith(SPILL_PREFIX)) return behind ? inTurn(() => onMessage(payload)) : onMessage(payload)
        inTurn(async () => {
          const [row] = await driver.query<{ payload: string }>('SELECT payload FROM presence_spill WHERE id = $1::bigint', [payload.slice(1)])
          if (row) onMessage(row.payload)
        })
      })
      return unlisten
    },
    publish(session, message) {
      waiting.push({ channel: presenceChannel(schema, session), message, long: Buffer.byteLength(message) > NOTIFY_LIMIT })
      schedule()
    },
    async close() {
      schedule()
      while (flushing) await flushing
      await Promise.all(inFlight)
    },
  }
}

export interface RedisBusOptions {
  url: string
  /** Put before every channel and key (MNEMO_REDIS_PREFIX), so that deployments can share a Redis. */
  prefix: string
  log: Log
}

/** Connects to Redis (rejects when it does not answer within 5 s) and returns the bus over it. */
export async function createRedisBus({ url, prefix, log }: RedisBusOptions): Promise<PresenceBus> {
  const pub = await connectRedis(url, log)
  const sub = pub.duplicate()
  sub.on('error', (error) => log.warn({ err: error }, 'redis (presence subscriber)'))
  const handlers = new Map<string, Set<(message: string) => void>>()
  sub.on('message', (channel: string, message: string) => {
    for (const handler of handlers.get(channel) ?? []) handler(message)
  })
  const sending = new Set<Promise<unknown>>()
  const channelOf = (session: string) => `${prefix}presence:${session}`
  return {
    maxMessageBytes: 512 * 1024,
    async join(session, onMessage) {
      const channel = channelOf(session)
      let set = handlers.get(channel)
      if (!set) {
        set = new Set()
        handlers.set(channel, set)
        await sub.subscribe(channel)
      }
      set.add(onMessage)
      return async () => {
        set.delete(onMessage)
        if (set.size === 0 && handlers.get(channel) === set) {
          handlers.delete(channel)
          await sub.unsubscribe(channel).catch(() => {})
        }
      }
    },
    publish(session, message) {
      const work = pub.publish(channelOf(session), message).catch((error: unknown) => {
        log.warn({ err: error, session }, 'presence: publishing to redis failed')
      })
      sending.add(work)
      void work.finally(() => sending.delete(work))
    },
    async close() {
      await Promise.allSettled([...sending])
      sub.disconnect()
      await pub.quit().catch(() => pub.disconnect())
    },
  }
}

/** A connected ioredis client; rejects with a message naming MNEMO_REDIS_URL when Redis does not answer. */
export async function connectRedis(url: string, log: Log): Promise<Redis> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, {
    lazyConnect: true,
    // Presence and limits must not queue up behind a Redis that is away: fail, and retry the next time.
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  })
  redis.on('error', (error) => log.warn({ err: error }, 'redis'))
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    redis.disconnect()
    throw new Error(`MNEMO_REDIS_URL: could not reach Redis at ${redactUrl(url)} (${(error as Error).message}); start it or unset MNEMO_REDIS_URL`)
  }
  return redis
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'the given URL'
  }
}
