/**
 * Server-Sent Events over a store subscription: each event's SSE `id` is its position, so an
 * EventSource that reconnects with Last-Event-ID resumes exactly where it stopped. A stream
 * opened with a token ends at the token's expiry, with a last `event: expired`.
 */
import type { Context } from 'hono'
import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import { onExpiry } from '../auth/expiry.js'
import { toEnvelope } from '../store/rows.js'
import type { EventStore, SubscribeOptions } from '../store/types.js'

const KEEPALIVE_MS = 15_000

export function streamEvents(c: Context, store: EventStore, options: SubscribeOptions) {
  return streamSSE(c, async (stream) => {
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
  })
}

/** Resolves when the client went away, or after telling it that its token expired. */
export async function untilAbortedOrExpired(c: Context, stream: SSEStreamingApi): Promise<void> {
  let stopExpiry = () => {}
  await new Promise<void>((resolve) => {
    stream.onAbort(() => resolve())
    stopExpiry = onExpiry(c.var.identity, () => {
      const data = JSON.stringify({ error: { code: 'token_expired', message: 'the token expired; reconnect with a fresh one' } })
      stream.writeSSE({ event: 'expired', data }).catch(() => {}).finally(() => resolve())
    })
  })
  stopExpiry()
}
