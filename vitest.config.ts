import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2 cores: a few files at a time keeps servers spawned by tests from starving each other.
    maxWorkers: 2,
    minWorkers: 1,
    env: { LOG_LEVEL: 'silent' },
  },
})
