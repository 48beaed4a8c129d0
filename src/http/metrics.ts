/** Prometheus metrics: one registry per server (tests run several in one process). */
import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { SyncDoor, SyncRefusal, UpdateObserver } from '../collab/types.js'
import type { BatchObserver } from '../store/appendEvents.js'

// Sub-millisecond at the low end: a stored update's whole path is a few milliseconds.
const FAST_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

/**
 * Why an HTTP request was refused, by its error's code: `rate` 429 over MNEMO_RATE_HTTP_PER_SEC,
 * `stream_limit` 429 over MNEMO_MAX_STREAMS_PER_IDENTITY, `budget` 429 over the token's `budget`,
 * `mcp_sessions` 429 over MNEMO_MCP_SESSIONS_PER_IDENTITY, `scope` 403 outside the token's `can`.
 */
export type HttpRefusal = 'rate' | 'stream_limit' | 'budget' | 'mcp_sessions' | 'scope'

const HTTP_REFUSALS: ReadonlyMap<string, HttpRefusal> = new Map([
  ['rate_limited', 'rate'], ['too_many_streams', 'stream_limit'], ['budget_exceeded', 'budget'],
  ['too_many_mcp_sessions', 'mcp_sessions'], ['out_of_scope', 'scope'],
])

export interface Metrics {
  registry: Registry
  eventsAppended: Counter<'type'>
  /** `mnemo_refusals_total`: the HTTP door counts its own (the middleware); the sync doors through `observeUpdate.refused`. */
  refusals: Counter<'door' | 'reason'>
  /** For the store: each append batch written. */
  observeBatch: BatchObserver
  /** For the rooms: each client update stored, then delivered. */
  observeUpdate: UpdateObserver
  middleware: MiddlewareHandler
  /** Registers a gauge read at scrape time. */
  gauge(name: string, help: string, read: () => number): void
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'mnemo_process_' })
  const requests = new Histogram({
    name: 'mnemo_http_request_duration_seconds',
    help: 'HTTP requests by route and status (SSE streams are counted when they end)',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const eventsAppended = new Counter({
    name: 'mnemo_events_appended_total',
    help: 'Events appended to the log by this instance',
    labelNames: ['type'],
    registers: [registry],
  })
  const presenceMessages = new Counter({
    name: 'mnemo_presence_messages_total',
    help: 'Presence messages sent to (direction="sent") and received from ("received") the other instances; none while an instance is alone',
    labelNames: ['direction'],
    registers: [registry],
  })
  const refusals = new Counter({
    name: 'mnemo_refusals_total',
    help: 'Requests, messages and connections refused by a limit, by door (http, sync, hocuspocus) and reason (rate, stream_limit, budget, mcp_sessions, scope, awareness_rate, stateless_rate, flood, connection_cap)',
    labelNames: ['door', 'reason'],
    registers: [registry],
  })
  const updates = new Histogram({
    name: 'mnemo_sync_update_seconds',
    help: 'From a client update arriving to its append answered (stage="stored") and to its broadcast (stage="delivered")',
    labelNames: ['stage'],
    buckets: FAST_BUCKETS,
    registers: [registry],
  })
  const batches = new Histogram({
    name: 'mnemo_store_batch_seconds',
    help: 'Append batches: how long the oldest append waited to be sent (phase="queued"), and the database round trip (phase="database")',
    labelNames: ['phase'],
    buckets: FAST_BUCKETS,
    registers: [registry],
  })
  const batchEvents = new Histogram({
    name: 'mnemo_store_batch_events',
    help: 'Events per append batch (group commit)',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
    registers: [registry],
  })
  const snapshots = new Histogram({
    name: 'mnemo_snapshot_blocking_seconds',
    help: 'Snapshots written, and how long each held the event loop: encoded="in_place" (a small document, encoded on the server thread) or encoded="worker" (a large one, encoded on a worker thread; the time is checking and handing over its input)',
    labelNames: ['encoded'],
    buckets: FAST_BUCKETS,
    registers: [registry],
  })
  // Label children looked up once: observe() runs for every update.
  const stored = updates.labels('stored')
  const delivered = updates.labels('delivered')
  const queued = batches.labels('queued')
  const database = batches.labels('database')
  return {
    registry,
    eventsAppended,
    refusals,
    observeBatch({ events, waitedMs, databaseMs, written }) {
      for (const [type, count] of written) eventsAppended.inc({ type }, count)
      batchEvents.observe(events)
      queued.observe(waitedMs / 1000)
      database.observe(databaseMs / 1000)
    },
    observeUpdate: {
      stored: (ms) => stored.observe(ms / 1000),
      delivered: (ms) => delivered.observe(ms / 1000),
      snapshot: (encoded, ms) => snapshots.observe({ encoded }, ms / 1000),
      refused: (door: SyncDoor, reason: SyncRefusal) => refusals.inc({ door, reason }),
      presence: (direction, n) => presenceMessages.inc({ direction }, n),
    },
    middleware: async function measure(c, next) {
      const start = process.hrtime.bigint()
      await next()
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      requests.observe({ method: c.req.method, route: routePath(c), status: String(c.res.status) }, seconds)
      // Hono keeps the error its handler answered (errors.ts): a refusal is known by its code.
      const code = (c.error as { code?: unknown } | undefined)?.code
      const reason = typeof code === 'string' ? HTTP_REFUSALS.get(code) : undefined
      if (reason) refusals.inc({ door: 'http', reason })
    },
    gauge(name, help, read) {
      new Gauge({ name, help, registers: [registry], collect() { this.set(read()) } })
    },
  }
}
