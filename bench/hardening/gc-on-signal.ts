/** Preloaded into the benchmark's server only: SIGUSR2 runs a full GC, so memory is read settled. */
const collect = (globalThis as { gc?: () => void }).gc
process.on('SIGUSR2', () => collect?.())
