/**
 * The decision rule through real clients: when the votes for one option reach the quorum,
 * the server accepts it for everyone and records `decision.reached` once — also when two
 * instances see the quorum at the same time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decisionEventId } from '../src/collab/decisionRule.js'
import { propose, vote } from '../src/session/decisions.js'
import { readState } from '../src/session/readState.js'
import type { EventStore } from '../src/store/types.js'
import { backends, freshStore } from './fixtures/db.js'
import { closeAfterEach, connectClient, converged, startSyncServer, type SyncServer, type TestClient } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

describe.each(backends)('decision rule on $name', (backend) => {
  let store: EventStore
  let closeStore: () => Promise<void>
  const servers: SyncServer[] = []
  const clients: TestClient[] = []

  const client = (server: SyncServer, session: string, id: string): TestClient => {
    const c = connectClient(server, session, { id, name: id })
    clients.push(c)
    return c
  }

  // One database per file: every test works in sessions of its own.
  beforeAll(async () => {
    ;({ store, close: closeStore } = await freshStore(backend))
  })
  afterAll(async () => closeStore())
  beforeEach(async () => {
    servers.push(await startSyncServer(store), await startSyncServer(store))
  })
  closeAfterEach(clients, servers)

  it('accepts a decision at quorum, for everyone, and records decision.reached once', async () => {
    const [server] = servers
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((id) => client(server!, 'd', id))
    await Promise.all([alice, bob, carol].map((c) => c!.synced()))
    propose(alice!.doc, { id: 'd1', question: 'Ship it?', options: ['yes', 'no'], quorum: 2, createdBy: 'alice' })
    await converged(server!, 'd', [alice!.doc, bob!.doc, carol!.doc])
    vote(alice!.doc, 'd1', 'alice', 'yes')
    vote(bob!.doc, 'd1', 'bob', 'no')
    await converged(server!, 'd', [alice!.doc, bob!.doc, carol!.doc])
    expect(readState(carol!.doc).decisions.d1!.status).toBe('open')
    vote(carol!.doc, 'd1', 'carol', 'yes')
    for (const c of [alice, bob, carol]) {
      await until(() => readState(c!.doc).decisions.d1?.status === 'accepted', { what: 'the decision to be accepted everywhere' })
      expect(readState(c!.doc).decisions.d1!.outcome).toBe('yes')
    }
    await server!.rooms.idle()
    const events = await store.read('d')
    const reached = events.filter((e) => e.type === 'decision.reached')
    expect(reached).toHaveLength(1)
    expect(reached[0]!).toMatchObject({
      id: decisionEventId('d', 'd1'),
      actor: { id: 'mnemo', name: 'mnemo', kind: 'server' },
      data: { decisionId: 'd1', outcome: 'yes', votes: { alice: 'yes', bob: 'no', carol: 'yes' } },
    })
    // The acceptance is a doc.update by the server, stored in the same append, just before.
    const acceptance = events.find((e) => e.version === reached[0]!.version - 1)!
    expect(acceptance).toMatchObject({
      type: 'doc.update', actor: { kind: 'server' }, data: { changes: [{ path: 'decisions', op: 'update', key: 'd1' }] },
    })
  })

  it('records decision.reached once when two instances see the quorum together', async () => {
    const [a, b] = servers
    const alice = client(a!, 'dd', 'alice')
    const bob = client(b!, 'dd', 'bob')
    await Promise.all([alice.synced(), bob.synced()])
    for (let round = 0; round < 5; round++) {
      const id = `q${round}`
      propose(alice.doc, { id, question: `Round ${round}?`, options: ['x', 'y'], quorum: 2, createdBy: 'alice' })
      await until(() => readState(bob.doc).decisions[id] !== undefined, { what: 'bob to see the proposal' })
      // Two votes at once, one on each instance: each may see the quorum first.
      vote(alice.doc, id, 'alice', 'x')
      vote(bob.doc, id, 'bob', 'x')
      await until(() => readState(alice.doc).decisions[id]?.status === 'accepted'
        && readState(bob.doc).decisions[id]?.status === 'accepted', { what: `round ${round} to be accepted on both` })
    }
    await a!.rooms.idle()
    await b!.rooms.idle()
    const reached = (await store.read('dd')).filter((e) => e.type === 'decision.reached')
    expect(reached.map((e) => e.data.decisionId).sort()).toEqual(['q0', 'q1', 'q2', 'q3', 'q4'])
  })
})
