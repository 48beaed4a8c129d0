/**
 * A session's history by version ranges, a few requests at once. A session's versions run
 * 1…head without gaps, so once the head version is known every page's range is too: the
 * pages are fetched newest first, `concurrency` at a time, and handed over newest first as
 * soon as every newer one has been (so the top of the timeline shows before the rest has come).
 * Position cursors (`after=`) could only be fetched one after another.
 */

export interface HistoryOptions<T> {
  /** The session's head version: the history is versions 1…version. */
  version: number
  /** Versions per request (the API's largest `limit`). */
  pageSize?: number
  /** Requests in flight at once (more than a few does not help a server on 2 cores). */
  concurrency?: number
  /** The events of versions after `after`, through `through`, in log order. */
  fetchRange(after: number, through: number): Promise<T[]>
  /** Each range, in log order, once every newer range has been handed over: the newest first. */
  onRange(events: T[]): void
  /** Stops dispatching ranges (what is in flight is the fetcher's to abort). */
  signal?: AbortSignal
}

export const HISTORY_PAGE = 1000
export const HISTORY_CONCURRENCY = 4

/** Loads versions 1…version; resolves with the number of requests once all are handed over. */
export async function loadHistory<T>({
  version, pageSize = HISTORY_PAGE, concurrency = HISTORY_CONCURRENCY, fetchRange, onRange, signal,
}: HistoryOptions<T>): Promise<{ requests: number }> {
  const ranges = Math.ceil(Math.max(0, version) / pageSize)
  // Range k (0 the newest) is versions (version - (k + 1) * pageSize, version - k * pageSize].
  const arrived: (T[] | undefined)[] = new Array(ranges)
  let dispatched = 0
  let handed = 0
  let failed = false
  const worker = async () => {
    while (dispatched < ranges && !failed && !signal?.aborted) {
      const k = dispatched++
      const through = version - k * pageSize
      let events: T[]
      try {
        events = await fetchRange(Math.max(0, through - pageSize), through)
      } catch (error) {
        failed = true
        throw error
      }
      if (failed || signal?.aborted) return
      arrived[k] = events
      while (handed < ranges && arrived[handed]) {
        const next = arrived[handed]!
        arrived[handed++] = undefined
        onRange(next)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, ranges) }, worker))
  return { requests: dispatched }
}
