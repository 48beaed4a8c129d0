/** Milliseconds on CLOCK_MONOTONIC: the benchmark's processes share it, so their times compare. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6
