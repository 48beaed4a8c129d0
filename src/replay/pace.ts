/**
 * The rhythm of a replay: events come out with the pauses between their `recordedAt`
 * times divided by `speed`, so a session can be watched as it happened, faster or slower.
 */
import type { StoredEvent } from '../store/types.js'

/** No single pause of a replay lasts longer than this (idle hours are not replayed). */
export const MAX_REPLAY_WAIT_MS = 10_000

export interface PaceOptions {
  /** 1 = real time, 2 = twice as fast, 0 = no pauses at all. */
  speed: number
  /** The longest single pause, in ms of wall-clock time (default MAX_REPLAY_WAIT_MS). */
  maxWaitMs?: number
  /** Stops the replay (the client went away): pending pauses end at once. */
  signal?: AbortSignal
  /** Replaceable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/** The pause before an event recorded at `at` that follows one recorded at `previous`. */
export function replayDelay(previous: string, at: string, speed: number, maxWaitMs = MAX_REPLAY_WAIT_MS): number {
  if (speed === 0) return 0
  const gap = Math.max(0, Date.parse(at) - Date.parse(previous))
  return Math.min(gap / speed, maxWaitMs)
}

/**
 * Re-emits `events` with their original spacing scaled by `speed`; the first comes at once.
 * Ends early, without error, when `signal` aborts.
 */
export async function* paceEvents(
  events: AsyncIterable<StoredEvent>, { speed, maxWaitMs = MAX_REPLAY_WAIT_MS, signal, sleep = abortableSleep }: PaceOptions,
): AsyncGenerator<StoredEvent, void, undefined> {
  if (!(speed >= 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a finite number ≥ 0 (got ${speed})`)
  let previous: string | undefined
  for await (const event of events) {
    if (signal?.aborted) return
    if (previous !== undefined) {
      const wait = replayDelay(previous, event.recordedAt, speed, maxWaitMs)
      if (wait > 0) await sleep(wait, signal)
      if (signal?.aborted) return
    }
    previous = event.recordedAt
    yield event
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
