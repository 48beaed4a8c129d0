/** The inspector's history load: version ranges, a few at once, handed over newest first. */
import { describe, expect, it } from 'vitest'
import { loadHistory } from '../web/src/history.js'

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))

/** A fetcher whose requests are answered when the test says, in any order. */
function controlled() {
  const pending: { after: number; through: number; answer: () => void; fail: (e: Error) => void }[] = []
  let inFlight = 0
  let most = 0
  const fetchRange = (after: number, through: number) => new Promise<number[]>((resolve, reject) => {
    inFlight++
    most = Math.max(most, inFlight)
    pending.push({
      after, through,
      answer: () => { inFlight--; resolve(Array.from({ length: through - after }, (_, i) => after + 1 + i)) },
      fail: (e) => { inFlight--; reject(e) },
    })
  })
  return { pending, fetchRange, most: () => most }
}

describe("the inspector's history by version ranges", () => {
  it('asks for the newest range first, at most `concurrency` at once, and hands them over newest first in log order', async () => {
    const f = controlled()
    const handed: number[][] = []
    const done = loadHistory({ version: 2500, pageSize: 1000, concurrency: 2, fetchRange: f.fetchRange, onRange: (e) => handed.push(e) })
    await tick()
    expect(f.pending.map((p) => [p.after, p.through])).toEqual([[1500, 2500], [500, 1500]])
    // The older range answers first: it waits for the newer one.
    f.pending[1].answer()
    await tick()
    expect(handed).toEqual([])
    expect(f.pending.map((p) => [p.after, p.through])).toEqual([[1500, 2500], [500, 1500], [0, 500]])
    f.pending[0].answer()
    await tick()
    expect(handed.map((r) => [r[0], r.at(-1)])).toEqual([[1501, 2500], [501, 1500]])
    f.pending[2].answer()
    expect(await done).toEqual({ requests: 3 })
    expect(handed.map((r) => [r[0], r.at(-1)])).toEqual([[1501, 2500], [501, 1500], [1, 500]])
    // Prepended range by range, the ranges make the log in order.
    expect(handed.reduce<number[]>((all, r) => [...r, ...all], [])).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1))
    expect(f.most()).toBe(2)
  })

  it('asks nothing for an empty session and one range for a short one', async () => {
    const f = controlled()
    expect(await loadHistory({ version: 0, fetchRange: f.fetchRange, onRange: () => {} })).toEqual({ requests: 0 })
    const done = loadHistory({ version: 7, fetchRange: f.fetchRange, onRange: () => {} })
    await tick()
    expect(f.pending.map((p) => [p.after, p.through])).toEqual([[0, 7]])
    f.pending[0].answer()
    expect(await done).toEqual({ requests: 1 })
  })

  it('stops at the first failure and hands nothing over after it', async () => {
    const f = controlled()
    const handed: number[][] = []
    const done = loadHistory({ version: 5000, pageSize: 1000, concurrency: 3, fetchRange: f.fetchRange, onRange: (e) => handed.push(e) })
    await tick()
    f.pending[1].fail(new Error('503'))
    await expect(done).rejects.toThrow('503')
    f.pending[0].answer()
    f.pending[2].answer()
    await tick()
    expect(handed).toEqual([])
    expect(f.pending).toHaveLength(3)
  })

  it('dispatches no more ranges once aborted', async () => {
    const f = controlled()
    const abort = new AbortController()
    const done = loadHistory({ version: 5000, pageSize: 1000, concurrency: 2, fetchRange: f.fetchRange, onRange: () => {}, signal: abort.signal })
    await tick()
    abort.abort()
    f.pending[0].answer()
    f.pending[1].answer()
    expect(await done).toEqual({ requests: 2 })
    expect(f.pending).toHaveLength(2)
  })
})
