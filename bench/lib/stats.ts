/**
 * Latency statistics for benchmarks: nearest-rank percentiles over recorded samples and a
 * one-call summary (count, mean, p50, p90, p99, max).
 */

export interface Summary {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Nearest-rank percentile `q` (0..100) of samples already sorted ascending; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((q / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(rank, 1)) - 1]
}

/** Summarizes unsorted samples (the input is not modified). */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort()
  let total = 0
  for (const value of sorted) total += value
  return {
    count: sorted.length,
    mean: sorted.length ? total / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
  }
}

/** A growable buffer of numbers that avoids boxing millions of samples in a JS array. */
export function createSamples(initialCapacity = 1 << 16): {
  push(value: number): void
  readonly length: number
  values(): Float64Array
} {
  let buffer = new Float64Array(initialCapacity)
  let length = 0
  return {
    push(value) {
      if (length === buffer.length) {
        const bigger = new Float64Array(buffer.length * 2)
        bigger.set(buffer)
        buffer = bigger
      }
      buffer[length++] = value
    },
    get length() {
      return length
    },
    values: () => buffer.subarray(0, length),
  }
}
