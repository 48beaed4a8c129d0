/** Prometheus metrics: one registry per server (tests run several in one process). */
import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  registry: Registry
  eventsAppended: Counter<'type'>
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
  return {
    registry,
    eventsAppended,
    middleware: async function measure(c, next) {
      const start = process.hrtime.bigint()
      await next()
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      requests.observe({ method: c.req.method, route: routePath(c), status: String(c.res.status) }, seconds)
    },
    gauge(name, help, read) {
      new Gauge({ name, help, registers: [registry], collect() { this.set(read()) } })
    },
  }
}
