/**
 * The SDK's HTTP client: one ordered queue of requests, each retried with backoff until the
 * server answers, so an agent's writes land in the order it made them even across an outage.
 * Events carry client-generated ids, which makes resending them safe (the server answers a
 * repeated id with the original); requests that are not idempotent are resent only when they
 * cannot have reached the server (connection refused, 429, 503).
 */
import { errorFromResponse, MnemoError } from './errors.js'
import type { HttpIdentity } from './identity.js'

export interface RetryOptions {
  /** First wait after a failure; doubled each time up to `maxDelayMs`. Default 100. */
  initialDelayMs?: number
  /** Default 2000. */
  maxDelayMs?: number
  /** One attempt's limit; a request that takes longer counts as failed. Default 30 000. */
  requestTimeoutMs?: number
}

export interface HttpRequest {
  method: 'GET' | 'POST'
  /** From `/api/…`. */
  path: string
  query?: Record<string, string | undefined>
  body?: unknown
  /** Safe to send twice (events with ids, reads). */
  idempotent: boolean
  /** `json` (default) parses the body; `text` returns it as it is. */
  accept?: 'json' | 'text'
  /** Names the operation in error messages, e.g. `formMemory`. */
  what: string
}

export interface HttpClient {
  /** Queues `request` behind the ones before it; resolves with the server's answer. */
  request<T>(request: HttpRequest): Promise<T>
  /** Resolves once every queued request has been answered. */
  flush(): Promise<void>
  url(path: string, query?: Record<string, string | undefined>): string
  readonly headers: Record<string, string>
  readonly fetch: typeof fetch
  /** Aborted by close(): streams listen to it too. */
  readonly closed: AbortSignal
  /** Stops: what is still queued rejects with MnemoError `closed`. */
  close(): void
}

export interface HttpClientOptions {
  baseUrl: string
  identity: HttpIdentity
  fetch?: typeof fetch
  retry?: RetryOptions
}

interface Job {
  request: HttpRequest
  resolve(value: unknown): void
  reject(error: unknown): void
}

/** Statuses that mean "not done, try again": the server was overloaded or its store was away. */
const RETRY_ALWAYS = new Set([429, 503])
/** Proxies' answers: the request may or may not have reached mnemo. */
const RETRY_IF_IDEMPOTENT = new Set([502, 504])

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const base = options.baseUrl.replace(/\/+$/, '')
  const fetchImpl = options.fetch ?? globalThis.fetch
  const { initialDelayMs = 100, maxDelayMs = 2000, requestTimeoutMs = 30_000 } = options.retry ?? {}
  const headers = { ...options.identity.headers }
  const closing = new AbortController()
  const queue: Job[] = []
  let idle: Array<() => void> = []
  let pumping = false

  const closedError = () => new MnemoError(0, 'closed', 'the session was closed before the server answered')

  function url(path: string, query: Record<string, string | undefined> = {}): string {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries({ ...query, ...options.identity.query })) if (v !== undefined) params.set(k, v)
    const search = params.toString()
    return `${base}${path}${search ? `?${search}` : ''}`
  }

  async function pump(): Promise<void> {
    if (pumping) return
    pumping = true
    while (queue.length > 0) {
      const job = queue[0]!
      try {
        job.resolve(await send(job.request))
      } catch (error) {
        job.reject(error)
      }
      queue.shift()
    }
    pumping = false
    for (const resolve of idle) resolve()
    idle = []
  }

  async function send(request: HttpRequest): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      if (closing.signal.aborted) throw closedError()
      const wait = (ms: number) => sleep(Math.min(ms, maxDelayMs), closing.signal)
      const backoff = () => wait(initialDelayMs * 2 ** Math.min(attempt, 20) * (0.75 + Math.random() / 2))
      let response: Response
      try {
        response = await fetchImpl(url(request.path, request.query), {
          method: request.method,
          headers: request.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
          body: request.body === undefined ? undefined : JSON.stringify(request.body),
          signal: AbortSignal.any([closing.signal, AbortSignal.timeout(requestTimeoutMs)]),
        })
      } catch (error) {
        if (closing.signal.aborted) throw closedError()
        if (!request.idempotent && !refusedBeforeSending(error)) throw ambiguous(request, error)
        await backoff()
        continue
      }
      // A 429 without Retry-After is a token's spent per-run budget: waiting cannot help.
      const final429 = response.status === 429 && !response.headers.has('retry-after')
      if ((RETRY_ALWAYS.has(response.status) && !final429) || (request.idempotent && RETRY_IF_IDEMPOTENT.has(response.status))) {
        await response.body?.cancel().catch(() => {})
        const after = Number(response.headers.get('retry-after'))
        await (Number.isFinite(after) && after > 0 ? wait(after * 1000) : backoff())
        continue
      }
      if (!response.ok) throw await errorFromResponse(response, request.what)
      try {
        return request.accept === 'text' ? await response.text() : await response.json()
      } catch (error) {
        // The connection dropped while the answer was read: the request itself was done.
        if (closing.signal.aborted) throw closedError()
        if (!request.idempotent) throw ambiguous(request, error)
        await backoff()
      }
    }
  }

  return {
    request<T>(request: HttpRequest): Promise<T> {
      if (closing.signal.aborted) return Promise.reject(closedError())
      return new Promise<T>((resolve, reject) => {
        queue.push({ request, resolve: resolve as (value: unknown) => void, reject })
        void pump()
      })
    },
    flush() {
      return queue.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve))
    },
    url,
    headers,
    fetch: fetchImpl,
    closed: closing.signal,
    close() {
      closing.abort()
      // The job in flight rejects from its aborted fetch; the ones behind it never start.
      for (const job of queue.splice(1)) job.reject(closedError())
      for (const resolve of idle) resolve()
      idle = []
    },
  }
}

/** True when the connection was refused or never established: nothing reached the server. */
function refusedBeforeSending(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | null)?.cause
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].includes(cause?.code ?? '')
}

function ambiguous(request: HttpRequest, error: unknown): MnemoError {
  const cause = (error as { cause?: { message?: string } } | null)?.cause?.message ?? (error as Error)?.message ?? String(error)
  return new MnemoError(0, 'network',
    `${request.what}: the connection failed after the request may have reached the server (${cause}); ` +
    'it was not resent because doing it twice would not be the same as once', { cause: error })
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
