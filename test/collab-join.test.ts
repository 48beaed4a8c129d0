/**
 * Joining an existing session does not wait for a commit: the client is synced while its
 * `participant.joined` is still on its way to the log, and the log still records that event
 * before the client's first update (issue 11, S4).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { select } from '../src/session/write.js'
import { createEventStore } from '../src/store/createEventStore.js'
import { notifyChannel, openDriver } from '../src/store/openStore.js'
import type { EventStore, SqlDriver } from '../src/store/types.js'
import { connectClient, startSyncServer, type SyncServer, type TestClient } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'
import { freshStore, pgliteBackend } from './fixtures/db.js'

/** A driver whose pipelined appends wait, in order, while `hold()` is in force. */
function gatedDriver(inner: SqlDriver) {
  let open: () => void = () => {}
  let gate: Promise<void> = Promise.resolve()
  let tail: Promise<unknown> = Promise.resolve()
  const driver: SqlDriver = {
    ...inner,
    kind: inner.kind,
    query: inner.query,
    exec: inner.exec,
    listen: inner.listen,
    close: inner.close,
    transaction: inner.transaction,
    queryInOrder(text, params) {
      const held = gate
      const run = tail.then(() => held).then(() => inner.queryInOrder(text, params))
      tail = run.catch(() => {})
      return run as never
    },
  }
  return {
    driver,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release: () => open(),
  }
}

describe('joining a room', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  let config: Awaited<ReturnType<typeof freshStore>>['config']
  beforeEach(async () => {
    // Only for the migrated database it leaves (starting PGlite takes the hook's time, not the test's).
    const fresh = await freshStore(pgliteBackend)
    config = fresh.config
    cleanups.push(fresh.close)
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it('syncs a client of an existing session before its participant.joined is stored, and logs that first', async () => {
    const gated = gatedDriver(await openDriver(config))
    const store: EventStore = await createEventStore(gated.driver, { channel: notifyChannel(config.schema), pollMs: 100 })
    cleanups.push(() => store.close())
    await store.append('s1', [{ type: 'session.created', data: {}, actor: { id: 'mnemo', name: 'mnemo', kind: 'server' } }])
    const server: SyncServer = await startSyncServer(store)
    cleanups.push(() => server.close())

    gated.hold()
    const bob: TestClient = connectClient(server, 's1', { id: 'bob', name: 'Bob' })
    cleanups.push(() => bob.destroy())
    await bob.synced()
    expect((await store.read('s1')).map((e) => e.type)).toEqual(['session.created'])

    select(bob.doc, 'k1', 'bob')
    gated.release()
    await until(async () => (await store.read('s1')).some((e) => e.type === 'doc.update'), { what: "bob's update in the log" })
    const events = await store.read('s1')
    const joined = events.findIndex((e) => e.type === 'participant.joined' && e.actor.id === 'bob')
    const update = events.findIndex((e) => e.type === 'doc.update' && e.actor.id === 'bob')
    expect(joined).toBeGreaterThan(0)
    expect(joined).toBeLessThan(update)
  })
})
