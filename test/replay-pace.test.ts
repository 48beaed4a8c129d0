/** Replay pacing: pauses are the recorded gaps divided by speed, capped, and a stop ends the replay at once. */
import { describe, expect, it } from 'vitest'
import { MAX_REPLAY_WAIT_MS, paceEvents, replayDelay } from '../src/replay/pace.js'
import type { StoredEvent } from '../src/store/types.js'

const at = (ms: number) => new Date(Date.UTC(2026, 10, 21, 10) + ms).toISOString()
const events = (offsets: number[]) => offsets.map((ms, i) => ({ position: i + 1, recordedAt: at(ms) }) as StoredEvent)
async function* source(list: StoredEvent[]) {
  yield* list
}

async function pace(offsets: number[], speed: number, abortAfter?: number) {
  const waits: number[] = []
  const controller = new AbortController()
  const out: number[] = []
  const sleep = async (ms: number) => {
    waits.push(ms)
  }
  for await (const e of paceEvents(source(events(offsets)), { speed, sleep, signal: controller.signal })) {
    out.push(e.position)
    if (out.length === abortAfter) controller.abort()
  }
  return { waits, out }
}

describe('replay pacing', () => {
  it('waits the recorded gaps divided by speed, none before the first event', async () => {
    expect(await pace([0, 1000, 1500, 1500, 4500], 1)).toEqual({ waits: [1000, 500, 3000], out: [1, 2, 3, 4, 5] })
    expect((await pace([0, 1000, 1500, 1500, 4500], 4)).waits).toEqual([250, 125, 750])
    expect((await pace([0, 1000], 0.5)).waits).toEqual([2000])
  })

  it('does not pause at all at speed 0, and caps any single pause', async () => {
    expect(await pace([0, 1000, 99_000], 0)).toEqual({ waits: [], out: [1, 2, 3] })
    expect((await pace([0, 3_600_000], 1)).waits).toEqual([MAX_REPLAY_WAIT_MS])
    expect(replayDelay(at(0), at(60_000), 2, 5000)).toBe(5000)
    expect(replayDelay(at(5), at(0), 1)).toBe(0) // clock skew: never a negative pause
  })

  it('stops when its signal aborts', async () => {
    expect((await pace([0, 10, 20, 30], 1, 2)).out).toEqual([1, 2])
  })

  it('refuses a negative or non-finite speed', async () => {
    await expect(pace([0], -1)).rejects.toThrow(/speed/)
    await expect(pace([0], Number.POSITIVE_INFINITY)).rejects.toThrow(/speed/)
  })
})
