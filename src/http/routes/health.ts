/**
 * `/health` (503 when the store does not answer, or while the instance shuts down, so that a load
 * balancer sends nobody new) and `/metrics` (Prometheus text).
 */
import { Hono } from 'hono'
import type { EventStore } from '../../store/types.js'
import type { Metrics } from '../metrics.js'
import { describeRoute, jsonResponse, textResponse } from '../describe.js'

const PING_TIMEOUT_MS = 2000

export function healthRoutes({ store, metrics, draining = () => false }: { store: EventStore; metrics: Metrics; draining?: () => boolean }) {
  const app = new Hono()
  app.get('/health', describeRoute({
    tags: ['operations'],
    summary: 'Liveness and the store: `{ status: "ok", db: "ok" }`; no token needed',
    responses: {
      200: jsonResponse('the store answers'),
      503: jsonResponse('`{ status: "degraded", db: "unavailable" }`: the store does not answer (`Retry-After`)'),
    },
  }), async (c) => {
    if (draining()) {
      c.header('Retry-After', '2')
      return c.json({ status: 'draining', db: 'unknown' }, 503)
    }
    try {
      await withTimeout(store.ping(), PING_TIMEOUT_MS)
      return c.json({ status: 'ok', db: 'ok' })
    } catch {
      c.header('Retry-After', '2')
      return c.json({ status: 'degraded', db: 'unavailable' }, 503)
    }
  })
  app.get('/metrics', describeRoute({
    tags: ['operations'],
    summary: 'Prometheus metrics (text exposition format); no token needed',
    responses: { 200: textResponse('the metrics', 'text/plain') },
  }), async (c) => {
    c.header('Content-Type', metrics.registry.contentType)
    return c.body(await metrics.registry.metrics())
  })
  return app
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
