import { defineConfig } from 'vitest/config'

// The fault tests (child-process servers, throwaway clusters) share no state with the rest:
// they run as a second project, in the same run and the same worker pool.
const FAULTS = 'test/faults-*.test.ts'

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2 cores: a few files at a time keeps servers spawned by tests from starving each other
    // (measured: with 3, hardening-fuzz ran past its 120 s timeout on a loaded machine).
    maxWorkers: 2,
    minWorkers: 1,
    // A worker keeps the modules it loaded from one file to the next (collecting 92 files cost
    // 81 s of the 2 cores with a fresh module graph per file, 22 s without). Tests therefore own
    // no module-level state: each opens its own server, store and database and closes them.
    isolate: false,
    env: { LOG_LEVEL: 'silent' },
    // Builds dist/ once, so tests spawn the compiled CLI.
    globalSetup: ['./test/fixtures/buildCli.ts'],
    reporters: ['default', './test/fixtures/slowestFiles.ts', './test/fixtures/skippedSummary.ts'],
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [FAULTS] } },
      { extends: true, test: { name: 'faults', include: [FAULTS] } },
    ],
  },
})
