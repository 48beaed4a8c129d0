/**
 * Server-Sent Events over a store subscription: each event's SSE `id` is its position, so an
 * EventSource that reconnects with Last-Event-ID resumes exactly where it stopped.
 */
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
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
    await new Promise<void>((resolve) => stream.onAbort(() => resolve()))
    closed = true
    clearInterval(keepalive)
    await subscription.close()
  })
}
