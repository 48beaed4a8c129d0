/**
 * Hostile defect 2: after `exp`, new connections got 4401, but an open sync socket kept
 * storing edits and an open SSE stream kept delivering. Both must end at the token's expiry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth/tokens.js'
import { rawClient } from './fixtures/clients.js'
import { pgliteBackend } from './fixtures/db.js'
import { startTestServer, type TestServer } from './fixtures/server.js'
import { readSse } from './fixtures/sse.js'

const SECRET = 'hostile-expiry-secret-0123456789abcdef-012345'

describe('token expiry on open connections', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(pgliteBackend, { MNEMO_AUTH_SECRET: SECRET })
  })
  afterAll(() => server.stop())

  it('a sync socket is closed with 4401 and an SSE stream ends with event: expired, at exp', async () => {
    const token = await mintToken(SECRET, { sub: 'ed', name: 'Ed', kind: 'human', role: 'editor', ttl: '3s' })
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }
    const headers = { authorization: `Bearer ${token}` }

    const socket = await rawClient(`${server.url.replace('http', 'ws')}/sync/exp1`, headers)
    await socket.greeted
    const stream = readSse(`${server.url}/api/sessions/exp1/stream`, { headers, timeoutMs: 20_000 })

    const closed = await socket.closed
    expect(closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/token expired/) })
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000)
    const messages = await stream
    expect(messages.at(-1)).toMatchObject({ event: 'expired' })
    expect(JSON.parse(messages.at(-1)!.data).error.code).toBe('token_expired')
    expect(Date.now()).toBeLessThan(exp * 1000 + 15_000) // ended by the server, not by the reader's timeout
  }, 30_000)
})
