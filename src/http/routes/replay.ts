/**
 * The timeline routes: state at a position or time, a paced replay (SSE), fork, and export
 * (JSON Lines, streamed). The hash-chain check (`/verify`) lives with the event routes.
 */
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { z } from 'zod'
import { onExpiry } from '../../auth/expiry.js'
import { toActor } from '../../auth/identity.js'
import { storableString } from '../../memory/issues.js'
import { sessionIdPattern } from '../../vocabulary.js'
import { assertCan } from '../../auth/roles.js'
import { assertUnscoped } from '../../auth/capabilities.js'
import { exportSession } from '../../replay/exportEvents.js'
import { forkSession } from '../../replay/fork.js'
import { paceEvents } from '../../replay/pace.js'
import { stateAt, stateAtTime } from '../../replay/stateAt.js'
import { readTimeline } from '../../replay/timeline.js'
import { toEnvelope } from '../../store/rows.js'
import type { EventStore, SessionHead } from '../../store/types.js'
import { badRequest, HttpError, sessionNotFound } from '../errors.js'
import { readJson, zodMessage } from '../json.js'
import { existingSession, positionParam, sessionParam, timeParam } from '../params.js'
import { describeRoute, errorResponses, jsonBody, jsonResponse, query, sseResponse, textResponse } from '../describe.js'

const ForkBody = z.strictObject({
  id: z.string().regex(sessionIdPattern, `must match ${sessionIdPattern.source}`),
  at: z.int().min(0).optional(),
  title: storableString().min(1).max(256).optional(),
})

export interface ReplayRoutesDeps {
  store: EventStore
}

export function replayRoutes({ store }: ReplayRoutesDeps) {
  const app = new Hono()

  const headOf = (session: string): Promise<SessionHead> => existingSession(store, session)

  app.get('/api/sessions/:id/state', describeRoute({
    tags: ['timeline'],
    summary: "The session document's state as of a position or a time (default: now)",
    parameters: [
      query('at', 'integer', 'a position'),
      query('time', 'string', 'an ISO 8601 date-time with its zone (not with `at`)', { format: 'date-time' }),
    ],
    responses: { 200: jsonResponse('`{ position, version, state }`'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const at = positionParam(c, 'at')
    const time = timeParam(c, 'time')
    if (at !== undefined && time !== undefined) throw badRequest('give either at (a position) or time (an ISO date-time), not both')
    await headOf(session)
    const { position, version, state } = time !== undefined ? await stateAtTime(store, session, time) : await stateAt(store, session, at)
    return c.json({ position, version, state })
  })

  app.get('/api/sessions/:id/replay', describeRoute({
    tags: ['timeline'],
    summary: 'The timeline between two positions re-emitted with its original spacing divided by `speed`',
    parameters: [
      query('from', 'integer', 'the first position (default 0)'),
      query('to', 'integer', "the last position (default: the session's head)"),
      query('speed', 'number', '1 = real time (default), 0 = no pauses'),
    ],
    responses: { 200: sseResponse('the events, then `event: end` with `{ count }`'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const from = positionParam(c, 'from') ?? 0
    const speed = speedParam(c)
    const head = await headOf(session)
    const to = positionParam(c, 'to') ?? head.position
    if (from > to) throw badRequest(`from (${from}) must not be after to (${to})`)
    return streamSSE(c, async (stream) => {
      const abort = new AbortController()
      stream.onAbort(() => abort.abort())
      // A slow replay ends when the token does, as live streams do.
      let expired = false
      const stopExpiry = onExpiry(c.get('identity'), () => {
        expired = true
        abort.abort()
      })
      let count = 0
      const events = paceEvents(readTimeline(store, session, { from, to }), { speed, signal: abort.signal })
      try {
        for await (const event of events) {
          if (abort.signal.aborted) break
          await stream.writeSSE({ id: String(event.position), data: JSON.stringify(toEnvelope(event)) })
          count += 1
        }
      } finally {
        stopExpiry()
      }
      if (expired) {
        const data = JSON.stringify({ error: { code: 'token_expired', message: 'the token expired; reconnect with a fresh one' } })
        await stream.writeSSE({ event: 'expired', data })
      } else if (!abort.signal.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify({ count }) })
    })
  })

  app.post('/api/sessions/:id/fork', describeRoute({
    tags: ['timeline'],
    summary: "Fork (admin): a new session whose document starts as this one's state at `at` (default: now)",
    requestBody: jsonBody(ForkBody),
    responses: { 201: jsonResponse('`{ id, forkedFrom, version }`'), ...errorResponses([400, 404, 409]) },
  }), async (c) => {
    const parent = sessionParam(c, 'admin')
    assertUnscoped(c.get('identity'), 'forking a session')
    const parsed = ForkBody.safeParse(await readJson(c))
    if (!parsed.success) throw badRequest(zodMessage(parsed.error))
    const { id, at, title } = parsed.data
    assertCan(c.get('identity'), 'admin', id)
    const result = await forkSession(store, parent, { id, at, title, actor: toActor(c.get('identity')) })
    if (!result.ok) {
      if (result.reason === 'not_found') throw sessionNotFound(parent)
      if (result.reason === 'exists') throw new HttpError(409, 'session_exists', result.message)
      throw badRequest(result.message)
    }
    return c.json({ id: result.id, forkedFrom: result.forkedFrom, version: result.version }, 201)
  })

  app.get('/api/sessions/:id/export', describeRoute({
    tags: ['timeline'],
    summary: "The session's events as JSON Lines; `mnemo import` reads them back",
    responses: { 200: textResponse('one event per line, ending with a head record', 'application/x-ndjson'), ...errorResponses([400, 404]) },
  }), async (c) => {
    const session = sessionParam(c, 'read')
    const head = await headOf(session)
    const chunks = exportSession(store, session, { until: head.position })
    const encoder = new TextEncoder()
    // Pull-based: the next page is read only when the client has taken the previous one.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next()
        if (next.done) controller.close()
        else controller.enqueue(encoder.encode(next.value))
      },
      async cancel() {
        await chunks.return(undefined)
      },
    })
    return new Response(body, {
      headers: {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="${session}.ndjson"`,
        'cache-control': 'no-store',
      },
    })
  })

  return app
}

function speedParam(c: Context): number {
  const raw = c.req.query('speed')
  if (raw === undefined || raw === '') return 1
  const speed = Number(raw)
  if (!Number.isFinite(speed) || speed < 0) throw badRequest(`speed must be a number ≥ 0, 0 meaning no pauses (got "${raw.slice(0, 64)}")`)
  return speed
}
