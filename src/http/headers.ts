/**
 * Request headers, read without a web `Request`'s `Headers`. On first use of `c.req.header()`,
 * @hono/node-server builds a whole undici `Headers` from the Node request, checking every name
 * and value on the way: profiled under 32 clients appending one event per request, that was 7%
 * of the server's time (the body limit, the identity and the JSON check each read one header).
 * The Node request (`env.incoming`) has them parsed already; `app.request()` (tests) has none,
 * and is read as before.
 */
import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'

/** The Node request under `c` when @hono/node-server serves it; undefined for `app.request()`. */
export const incomingOf = (c: Context): IncomingMessage | undefined => (c.env as { incoming?: IncomingMessage } | undefined)?.incoming

/** The value of header `name`, as `c.req.header(name)` gives it; undefined when absent. */
export function header(c: Context, name: string): string | undefined {
  const incoming = incomingOf(c)
  if (!incoming) return c.req.header(name)
  const value = incoming.headers[name.toLowerCase()]
  return Array.isArray(value) ? value.join(', ') : value
}
