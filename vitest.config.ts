import { defineConfig } from 'vitest/config'

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
    // One project. With isolate off, vitest runs projects one after another (each group of
    // files waits for the group before it), so the fault tests, which mostly wait on child
    // processes and clusters, ran alone at the end with a core half idle (42 s of 178).
    // In one project they are sorted with the rest, longest first, and overlap the CPU-bound files.
    include: ['test/**/*.test.ts'],
  },
})
