/** `GET /api/instances` (admin): the live instances of this deployment and how far each is behind the log. */
import { Hono } from 'hono'
import { assertCan } from '../../auth/roles.js'
import type { InstanceRegistry } from '../../instances/registry.js'
import type { EventStore } from '../../store/types.js'
import { describeRoute, errorResponses, jsonResponse } from '../describe.js'
import { HttpError } from '../errors.js'

/** `registry` is there once the server listens. */
export function instanceRoutes({ store, registry }: { store: EventStore; registry: () => InstanceRegistry | undefined }) {
  const app = new Hono()
  app.get('/api/instances', describeRoute({
    tags: ['operations'],
    summary: 'The live instances of this deployment and how far each is behind the log (admin)',
    responses: {
      200: jsonResponse('`{ instances: [{ id, url, version, startedAt, lastSeen, sessions, connections, position, lag }] }`'),
      ...errorResponses([]),
    },
  }), async (c) => {
    assertCan(c.get('identity'), 'admin')
    const current = registry()
    if (!current) throw new HttpError(503, 'starting', 'this instance is still starting; try again in a moment')
    return c.json({ instances: await current.list(await store.lastPosition()) })
  })
  return app
}
