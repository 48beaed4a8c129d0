/**
 * The Hono application: middleware (CORS, body limit, identity, suspensions, rate, metrics), the routes, and
 * the one error handler; `/openapi.json` and `/docs` describe them all. No server here — tests call `app.request()` directly.
 */
import { Hono } from 'hono'
import { cors } from 'hono/cors'
import type { Authenticate } from './authenticate.js'
import { limitBody } from './body.js'
import { createErrorHandler, errorBody } from './errors.js'
import type { Metrics } from './metrics.js'
import { agentControl } from './middleware/agentControl.js'
import { identify } from './middleware/identify.js'
import { rateLimit } from './middleware/rateLimit.js'
import type { SharedLimits } from '../control/sharedLimits.js'
import { docsRoutes } from './routes/docs.js'
import type { Logger } from '../log.js'
import { createBudgets, type Budgets } from '../control/budgets.js'
import type { Suspensions } from '../control/suspensions.js'

export interface AppDeps {
  log: Logger
  metrics: Metrics
  authenticate: Authenticate
  maxBodyBytes: number
  corsOrigins: string[]
  /** Requests a second per identity, and the burst above it; absent or 0: no limit. */
  rateLimit?: { perSec: number; burst: number; shared?: SharedLimits }
  /** Route groups, mounted in order. */
  routes: Hono[]
  /** What budgeted tokens wrote; share it with the room manager. Default: the app's own. */
  budgets?: Budgets
  /** The kill switch; without it nobody is refused as suspended. */
  suspensions?: Suspensions
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono()
  app.onError(createErrorHandler(deps.log))
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404))
  app.use(deps.metrics.middleware)
  if (deps.corsOrigins.length > 0) {
    app.use(cors({
      origin: deps.corsOrigins.includes('*') ? '*' : deps.corsOrigins,
      allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-Mnemo-Id', 'X-Mnemo-Name', 'X-Mnemo-Kind', 'X-Mnemo-Run',
        'Mcp-Session-Id', 'Mcp-Protocol-Version'],
      exposeHeaders: ['Retry-After', 'Mcp-Session-Id'],
    }))
  }
  app.use(limitBody(deps.maxBodyBytes))
  app.use(identify(deps.authenticate))
  app.use(agentControl({ budgets: deps.budgets ?? createBudgets(), suspensions: deps.suspensions }))
  if (deps.rateLimit) app.use(rateLimit(deps.rateLimit))
  for (const routes of deps.routes) app.route('/', routes)
  // Last: the description reads the routes mounted above (and itself).
  app.route('/', docsRoutes(app))
  return app
}
