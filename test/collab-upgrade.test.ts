/**
 * What an open sync connection keeps: once the upgrade is done, its HTTP request (headers, URL,
 * the bytes that came with it) is garbage. A listener made in the upgrade handler's scope once
 * held it for the socket's whole life: about 1.3 KiB of heap per idle connection.
 */
import { IncomingMessage } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { anyBackend, freshStore } from './fixtures/db.js'
import { closeAfterEach, connectClient, startSyncServer, type SyncServer, type TestClient } from './fixtures/syncServer.js'
import { until } from './fixtures/until.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

describe('the sync endpoint', () => {
  let store: Awaited<ReturnType<typeof freshStore>>
  const servers: SyncServer[] = []
  const clients: TestClient[] = []
  closeAfterEach(clients, servers)
  beforeAll(async () => {
    store = await freshStore(anyBackend)
  })
  afterAll(async () => {
    await store?.close()
  })

  it('keeps no upgrade request of a connection it holds open', async () => {
    const server = await startSyncServer(store.store)
    servers.push(server)
    const requests: WeakRef<IncomingMessage>[] = []
    server.http.prependListener('upgrade', (req: IncomingMessage) => requests.push(new WeakRef(req)))
    for (let i = 0; i < 3; i++) clients.push(connectClient(server, 'upgrade-held', { id: `u${i}` }))
    await until(() => clients.every((c) => c.provider.synced), { what: 'the three clients to sync' })
    expect(requests).toHaveLength(3)
    await until(() => {
      gc()
      return requests.every((ref) => ref.deref() === undefined)
    }, { what: 'the upgrade requests of the open connections to be collected', timeout: 5_000 })
    expect(clients.every((c) => c.provider.wsconnected)).toBe(true)
  })
})
