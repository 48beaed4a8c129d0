/**
 * The SDK's event stream over a scripted fetch: the SSE grammar as any server or proxy may
 * write it (CRLF or CR line ends, a field split across chunks, multi-line data, comments,
 * events without a position), parsed by eventsource-parser; a dropped stream resumes with
 * `Last-Event-ID`, delivering no position twice.
 */
import { describe, expect, it } from 'vitest'
import { followEvents } from '../src/agent/events.js'
import { createHttpClient } from '../src/agent/http.js'

const envelope = (position: number, extra = '') => JSON.stringify({ position, type: 'note.added', data: { extra } })

/** A response whose body arrives in exactly these chunks. */
function streamed(chunks: string[]): Response {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      controller.close()
    },
  })
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
}

describe('the SDK\'s event stream', () => {
  it('parses CRLF and CR line ends, split fields, multi-line data and comments; resumes without duplicates', async () => {
    const first = envelope(1)
    const answers = [
      streamed([
        ': keep-alive\r\n\r\n',
        `id: 1\r\ndata: ${first.slice(0, 10)}`, `${first.slice(10)}\r\n\r\n`,
        // Multi-line data joins with "\n" (JSON allows the newline between tokens).
        `id: 2\rdata: {"position": 2,\rdata: "type": "note.added", "data": {}}\r\r`,
        'event: expired\ndata: {"error":{"code":"token_expired"}}\n\n',
      ]),
      // After the drop: the server repeats position 2, then goes on.
      streamed([`id: 2\ndata: ${envelope(2)}\n\nid: 3\ndata: ${envelope(3, 'third')}\n\n`]),
    ]
    const requests: Array<{ url: string; lastEventId: string | undefined }> = []
    const fakeFetch = (async (url: string, init: RequestInit) => {
      requests.push({ url, lastEventId: (init.headers as Record<string, string>)['last-event-id'] })
      const answer = answers.shift()
      if (!answer) return new Response(JSON.stringify({ error: { code: 'done', message: 'no more' } }), { status: 400 })
      return answer
    }) as unknown as typeof fetch
    const http = createHttpClient({ baseUrl: 'http://mnemo.test', identity: { headers: {}, query: {} }, fetch: fakeFetch, retry: { initialDelayMs: 1 } })
    const seen: Array<{ position: number; extra?: string }> = []
    try {
      for await (const event of followEvents(http, 's', {}, async () => 0)) {
        seen.push({ position: event.position, extra: (event.data as { extra?: string }).extra })
        if (seen.length === 3) break
      }
    } finally {
      http.close()
    }
    expect(seen).toEqual([{ position: 1, extra: '' }, { position: 2, extra: undefined }, { position: 3, extra: 'third' }])
    expect(requests.map((r) => r.lastEventId)).toEqual([undefined, '2'])
    expect(requests[1]!.url).toContain('after=2')
  })
})
