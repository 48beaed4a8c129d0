/**
 * A session's events as an async iterator over the SSE stream. When the connection drops it
 * reconnects with `Last-Event-ID` (the last position it delivered), and it never delivers a
 * position at or below one it delivered already: no gaps, no duplicates. The stream is parsed
 * by `eventsource-parser` (the whole SSE grammar: CR/LF line ends, multi-line data, comments).
 */
import { EventSourceParserStream, type EventSourceMessage } from 'eventsource-parser/stream'
import { errorFromResponse, MnemoError } from './errors.js'
import { sleep, type HttpClient } from './http.js'
import type { EventEnvelope } from './types.js'

export interface EventsOptions {
  /** Deliver events after this position; `'now'`: only new ones. Default 0: from the start. */
  after?: number | 'now'
  /** Exact types or patterns like `memory.*`. */
  types?: string[]
  /** Stops the iteration (as `break` or `return()` do). */
  signal?: AbortSignal
}

export async function* followEvents(
  http: HttpClient, session: string, options: EventsOptions, headPosition: () => Promise<number>,
): AsyncGenerator<EventEnvelope, void, undefined> {
  const stop = new AbortController()
  const signals = [http.closed, stop.signal, ...(options.signal ? [options.signal] : [])]
  const stopped = AbortSignal.any(signals)
  let last = options.after === 'now' ? await headPosition() : options.after ?? 0
  const types = options.types?.length ? options.types.join(',') : undefined
  try {
    for (let failures = 0; !stopped.aborted; failures++) {
      if (failures > 0) await sleep(Math.min(100 * 2 ** Math.min(failures - 1, 10), 2000), stopped)
      if (stopped.aborted) return
      let response: Response
      try {
        response = await http.fetch(http.url(`/api/sessions/${session}/stream`, { after: String(last), types }), {
          headers: { ...http.headers, accept: 'text/event-stream', ...(last > 0 ? { 'last-event-id': String(last) } : {}) },
          signal: stopped,
        })
      } catch {
        continue // unreachable: try again
      }
      if (response.status === 429 || response.status >= 500) {
        await response.body?.cancel().catch(() => {})
        continue
      }
      if (!response.ok) throw await errorFromResponse(response, 'events')
      if (!response.body) throw new MnemoError(response.status, 'stream_refused', 'events: the stream answered without a body')
      try {
        // Events without a position (`expired`, `suspended`, which end the stream) are not the log's.
        const messages = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
        for await (const message of messages as unknown as AsyncIterable<EventSourceMessage>) {
          const position = Number(message.id)
          if (message.id === undefined || message.data === '' || !Number.isSafeInteger(position) || position <= last) continue
          failures = 0
          last = position
          yield JSON.parse(message.data) as EventEnvelope
        }
      } catch {
        // The connection dropped mid-stream: resume after `last`.
      }
    }
  } finally {
    stop.abort()
  }
}
