/**
 * Server-Sent Events over a store subscription: each event's SSE `id` is its position, so an
 * EventSource that reconnects with Last-Event-ID resumes exactly where it stopped. A stream
 * opened with a token ends at the token's expiry, with a last `event: expired`, and when its
 * holder is suspended, with a last `event: suspended`.
 */
import type { Context } from 'hono'
import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import { onExpiry } from '../auth/expiry.js'
import { suspendedMessage } from '../control/suspensions.js'
import { HttpError } from './errors.js'
import { toEnvelope } from '../store/rows.js'
import type { EventStore, SubscribeOptions } from '../store/types.js'

const KEEPALIVE_MS = 15_000

/** Counts the live streams each identity holds; beyond `max`, a new one is refused with 429. */
export function createStreamLimit(max: number) {
  const open = new Map<string, number>()
  return {
    /** Takes a slot for `identity` (the release function), or throws the 429. */
    acquire(identity: string): () => void {
      const n = open.get(identity) ?? 0
      if (n >= max) {
        throw new HttpError(429, 'too_many_streams',
          `at most ${max} open streams per identity (MNEMO_MAX_STREAMS_PER_IDENTITY); close one and retry`, { 'Retry-After': '5' })
      }
      open.set(identity, n + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (open.get(identity) ?? 1) - 1
        if (left > 0) open.set(identity, left)
        else open.delete(identity)
      }
    },
  }
}

export type StreamLimit = ReturnType<typeof createStreamLimit>

export function streamEvents(c: Context, store: EventStore, options: SubscribeOptions, limit?: StreamLimit) {
  const release = limit?.acquire(c.get('identity').id) ?? (() => {})
  return streamSSE(c, async (stream) => {
    try {
      await streamUntilEnd(c, stream, store, options)
    } finally {
      release()
    }
  })
}

async function streamUntilEnd(c: Context, stream: SSEStreamingApi, store: EventStore, options: SubscribeOptions): Promise<void> {
  let closed = false
  const subscription = store.subscribe(options, async (event) => {
    if (closed) return
    await stream.writeSSE({ id: String(event.position), data: JSON.stringify(toEnvelope(event)) })
  })
  const keepalive = setInterval(() => {
    void stream.write(': keepalive\n\n').catch(() => {})
  }, KEEPALIVE_MS)
  await untilAbortedOrExpired(c, stream)
  closed = true
  clearInterval(keepalive)
  await subscription.close()
}

/** Resolves when the client went away, or after telling it that its token expired or its holder was suspended. */
export async function untilAbortedOrExpired(c: Context, stream: SSEStreamingApi): Promise<void> {
  let stopExpiry = () => {}
  let stopWatch = () => {}
  await new Promise<void>((resolve) => {
    stream.onAbort(() => resolve())
    stopExpiry = onExpiry(c.get('identity'), () => {
      const data = JSON.stringify({ error: { code: 'token_expired', message: 'the token expired; reconnect with a fresh one' } })
      stream.writeSSE({ event: 'expired', data }).catch(() => {}).finally(() => resolve())
    })
    stopWatch = c.get('suspensions')?.watch(c.get('identity').id, (suspension) => {
      const data = JSON.stringify({ error: { code: 'agent_suspended', message: suspendedMessage(suspension) } })
      stream.writeSSE({ event: 'suspended', data }).catch(() => {}).finally(() => resolve())
    }) ?? stopWatch
  })
  stopExpiry()
  stopWatch()
}
