/**
 * Small statistics helpers for the sync benchmark: latency percentiles and rates.
 */

export interface LatencySummary {
  n: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Nearest-rank percentiles of `values` (milliseconds); all NaN when there are none. */
export function summarizeLatencies (values: number[]): LatencySummary {
  if (values.length === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN }
  const sorted = Float64Array.from(values).sort()
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] }
}

/** Events per second over a window given in milliseconds. */
export function perSecond (count: number, windowMs: number): number {
  return windowMs > 0 ? count / (windowMs / 1000) : NaN
}
