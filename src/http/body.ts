/**
 * Request bodies, read without a web `Request`. @hono/node-server hands every route a
 * lightweight request that becomes a full one (an undici `Request`, an `AbortController`, the
 * Node stream wrapped as a web stream) the moment anything touches its body or its signal;
 * profiled under 32 clients appending one event per request, building it was a fifth of the
 * server's time. So the body limit judges by `Content-Length` and the JSON routes read the Node
 * request (`env.incoming`) themselves; `app.request()` (tests) and the MCP routes, which hand
 * the web request on, read it as before.
 */
import type { IncomingMessage } from 'node:http'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit as streamingBodyLimit } from 'hono/body-limit'
import { HttpError } from './errors.js'
import { header, incomingOf } from './headers.js'

/** Contexts whose body is no longer the Node request's to read (the limit buffered it, chunked). */
const buffered = new WeakSet<Context>()
const texts = new WeakMap<Context, Promise<string>>()

const tooLarge = (max: number) => new HttpError(413, 'body_too_large',
  `the request body is larger than ${max} bytes (MNEMO_MAX_BODY_BYTES)`,
  // The rest of the body is never read, so the connection cannot be reused.
  { Connection: 'close' })

/**
 * Refuses a body over `max` bytes with 413: by its `Content-Length`, or, sent chunked, by reading
 * it (hono's limit, which buffers it into a new web request).
 */
export function limitBody(max: number): MiddlewareHandler {
  const streaming = streamingBodyLimit({ maxSize: max, onError: () => { throw tooLarge(max) } })
  return async (c, next) => {
    const method = c.req.method
    if (method === 'GET' || method === 'HEAD') return next()
    const length = header(c, 'content-length')
    if (length !== undefined && header(c, 'transfer-encoding') === undefined) {
      if (Number(length) > max) throw tooLarge(max)
      return next()
    }
    buffered.add(c)
    return streaming(c, next)
  }
}

/** The request body as text (UTF-8), read once however often it is asked for. */
export function readBodyText(c: Context): Promise<string> {
  let text = texts.get(c)
  if (!text) {
    const incoming = incomingOf(c)
    // A Node request someone already read to its end was read through the web request: ask it.
    text = incoming && !buffered.has(c) && !incoming.readableEnded ? readIncoming(incoming) : c.req.text()
    texts.set(c, text)
  }
  return text
}

function readIncoming(incoming: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
    }
    const onEnd = () => {
      done()
      resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8'))
    }
    const onFail = () => {
      done()
      reject(new HttpError(400, 'incomplete_body', 'the request body ended before its Content-Length: send the whole body'))
    }
    const done = () => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onFail)
      incoming.off('aborted', onFail)
    }
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onFail)
    incoming.on('aborted', onFail)
  })
}
