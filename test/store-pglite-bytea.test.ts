/**
 * The embedded driver's own bytea codec (pgliteDriver.ts, hostile defect 10: PGlite's took
 * 250 ms per MB each way, so a large document's snapshot blocked the process for seconds):
 * every byte value, the empty value and a 12 MB snapshot come back as they went in, as
 * parameters, in rows and inside a transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/store/openStore.js'
import type { EventStore } from '../src/store/types.js'

describe('bytea on PGlite', () => {
  // One store for both tests: a new PGlite costs seconds, and each test works in its own session.
  let store: EventStore
  beforeAll(async () => {
    store = await openStore({ dataDir: 'memory://' })
  })
  afterAll(async () => store?.close())

  it('round-trips every byte value, nothing and a 12 MB snapshot', async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const big = Uint8Array.from({ length: 12 * 1024 * 1024 }, (_, i) => (i * 7919) & 255)
    const rows = await store.driver.query<{ a: Uint8Array; e: Uint8Array; n: null }>('SELECT $1::bytea AS a, $2::bytea AS e, NULL::bytea AS n', [all, new Uint8Array(0)])
    expect(Buffer.from(rows[0]!.a).equals(Buffer.from(all))).toBe(true)
    expect(rows[0]!.e).toHaveLength(0)
    expect(rows[0]!.n).toBeNull()
    const inTx = await store.driver.transaction((tx) => tx.query<{ a: Uint8Array }>('SELECT $1::bytea AS a', [all.subarray(10, 20)]))
    expect([...inTx[0]!.a]).toEqual([...all.subarray(10, 20)])
    await store.append('s', [{ type: 'conversation.turn', data: { role: 'user', text: 'x' }, actor: { id: 'a', name: 'A', kind: 'human' } }])
    await store.saveSnapshot({ session: 's', version: 1, position: 1, state: big })
    const snapshot = await store.loadSnapshot('s')
    expect(snapshot!.state.length).toBe(big.length)
    expect(Buffer.from(snapshot!.state).equals(Buffer.from(big))).toBe(true)
  })

  it('does not zero-fill new WAL segments (that held the server thread ~55 ms per 16 MB)', async () => {
    expect(await store.driver.query('SHOW wal_init_zero')).toEqual([{ wal_init_zero: 'off' }])
  })
})
