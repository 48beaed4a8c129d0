/**
 * What a server loads at startup: a client library for a service that is not configured costs
 * startup time and memory for nothing. ioredis (~60 ms and ~10 MB) is loaded only once
 * MNEMO_REDIS_URL asks for Redis (the Redis tests cover that path).
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url))

describe('startup', () => {
  it('the server modules load no Redis client unless Redis is configured', () => {
    // A fresh process: this worker has loaded ioredis for other tests already.
    const script = `
      import { createRequire } from 'node:module'
      await import(${JSON.stringify(MAIN)})
      const loaded = Object.keys(createRequire(import.meta.url).cache)
      console.log(JSON.stringify({ modules: loaded.length, ioredis: loaded.filter((path) => path.includes('/node_modules/ioredis/')).length }))
    `
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 }).trim().split('\n').at(-1)!)
    expect(out.modules).toBeGreaterThan(0) // the cache is the one CommonJS packages land in
    expect(out.ioredis).toBe(0)
  })
})
