/** The limits' arithmetic with a fake clock: when a connection is a flooder, document size (the bucket: tokenBucket.test.ts). */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { admitMessage, docWouldExceed, reserveDocBytes } from '../src/collab/limits.js'
import type { Connection, Room } from '../src/collab/types.js'

describe('admitMessage', () => {
  const config = { updatesPerSec: 10, updateBurst: 5 }
  const conn = () => ({ closed: false }) as Connection

  it('drops over the rate and closes after more than twice the burst dropped within 10 s', () => {
    const c = conn()
    const outcomes = Array.from({ length: 16 }, () => admitMessage(config, c, 'update', 0))
    expect(outcomes.slice(0, 5)).toEqual(Array(5).fill('accept'))
    expect(outcomes.slice(5, 15)).toEqual(Array(10).fill('drop'))
    expect(outcomes[15]).toBe('close')
  })

  it('forgets drops after 10 s, so a client that slows down is not closed', () => {
    const c = conn()
    for (let i = 0; i < 15; i++) admitMessage(config, c, 'update', 0) // 5 taken, 10 dropped
    expect(admitMessage(config, c, 'update', 10_001 + 0)).toBe('accept') // refilled meanwhile
    for (let i = 0; i < 4; i++) admitMessage(config, c, 'update', 10_001)
    expect(admitMessage(config, c, 'update', 10_001)).toBe('drop') // a new window: 1 dropped, not 11
  })

  it('only ever drops awareness, and keeps it apart from updates', () => {
    const c = conn()
    const outcomes = Array.from({ length: 100 }, () => admitMessage(config, c, 'awareness', 0))
    expect(new Set(outcomes)).toEqual(new Set(['accept', 'drop']))
    expect(admitMessage(config, c, 'update', 0)).toBe('accept')
  })
})

describe('docWouldExceed', () => {
  const grow = (doc: Y.Doc, key: string, bytes: number) => doc.getMap('m').set(key, 'x'.repeat(bytes))
  const updateOf = (key: string, bytes: number) => {
    const d = new Y.Doc()
    grow(d, key, bytes)
    return Y.encodeStateAsUpdate(d)
  }

  it('refuses what would grow the document past the limit, counting updates still being stored', async () => {
    const doc = new Y.Doc()
    const room = { doc } as Room
    expect(docWouldExceed(room, updateOf('a', 4000), 10_000)).toBe(false)
    let stored!: () => void
    reserveDocBytes(room, 4000, new Promise<void>((resolve) => (stored = resolve)))
    expect(docWouldExceed(room, updateOf('b', 4000), 10_000)).toBe(false)
    reserveDocBytes(room, 4000, new Promise(() => {}))
    expect(docWouldExceed(room, updateOf('c', 4000), 10_000)).toBe(true) // 3 × 4000 in flight or applied
    stored()
    await Promise.resolve()
  })

  it('measures the document before refusing: overwritten values no longer count', () => {
    const doc = new Y.Doc()
    const room = { doc } as Room
    docWouldExceed(room, new Uint8Array(1), 10_000) // starts tracking
    for (let i = 0; i < 5; i++) grow(doc, 'same', 3000) // 15 KB applied, one 3 KB value kept
    expect(docWouldExceed(room, updateOf('d', 4000), 10_000)).toBe(false)
    expect(docWouldExceed(room, new Uint8Array(1), Infinity)).toBe(false)
  })
})
