/**
 * Snapshots over 64 KiB are written in parts (hostile defect 10: one 20 MB statement held the
 * embedded database, and with it the server's thread, for seconds): the parts are rows of
 * their own, the snapshot reads back byte for byte, a small one stays inline, and a snapshot
 * missing a part is passed over for the next older one.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { PART_BYTES } from '../src/store/queries/snapshots.js'
import type { EventStore } from '../src/store/types.js'
import { backends, freshStore } from './fixtures/db.js'

const actor = { id: 'a', name: 'A', kind: 'human' as const }

describe.each(backends)('snapshots on $name', (backend) => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => close?.())

  async function storeWithSession(): Promise<EventStore> {
    const fresh = await freshStore(backend)
    close = fresh.close
    await fresh.store.append('s', [1, 2, 3].map((n) => ({ type: 'conversation.turn', data: { role: 'user', text: `t${n}` }, actor })))
    return fresh.store
  }
  const parts = async (store: EventStore, position: number) =>
    Number((await store.driver.query<{ n: string | number }>('SELECT count(*) AS n FROM snapshot_parts WHERE session_id = $1 AND position = $2', ['s', position]))[0]!.n)

  it('writes a large snapshot in parts and reads it back whole; a small one stays inline', async () => {
    const store = await storeWithSession()
    const big = Uint8Array.from({ length: 2 * PART_BYTES + 123 }, (_, i) => (i * 7919) & 255)
    await store.saveSnapshot({ session: 's', version: 2, position: 2, state: big })
    expect(await parts(store, 2)).toBe(3)
    const loaded = await store.loadSnapshot('s')
    expect(loaded).toMatchObject({ version: 2, position: 2 })
    expect(Buffer.from(loaded!.state).equals(Buffer.from(big))).toBe(true)
    const small = Uint8Array.of(1, 2, 3)
    await store.saveSnapshot({ session: 's', version: 1, position: 1, state: small })
    expect(await parts(store, 1)).toBe(0)
    expect([...(await store.loadSnapshot('s', 1))!.state]).toEqual([1, 2, 3])
    // Written again (two instances snapshotting the same position): nothing doubles.
    await store.saveSnapshot({ session: 's', version: 2, position: 2, state: big })
    expect(await parts(store, 2)).toBe(3)
  })

  it('passes over a snapshot missing a part for the next older one', async () => {
    const store = await storeWithSession()
    await store.saveSnapshot({ session: 's', version: 1, position: 1, state: Uint8Array.of(9) })
    await store.saveSnapshot({ session: 's', version: 3, position: 3, state: new Uint8Array(2 * PART_BYTES + 1) })
    await store.driver.query('DELETE FROM snapshot_parts WHERE session_id = $1 AND position = $2 AND part = 1', ['s', 3])
    const loaded = await store.loadSnapshot('s')
    expect(loaded).toMatchObject({ version: 1, position: 1 })
    expect([...loaded!.state]).toEqual([9])
  })
})
