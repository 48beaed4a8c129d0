/** The token bucket shared by HTTP and sync connections, driven by an injected clock. */
import { describe, expect, it } from 'vitest'
import { createTokenBucket } from '../src/tokenBucket.js'

describe('token bucket', () => {
  it('allows the burst at once, then the rate, and says how long to wait', () => {
    const bucket = createTokenBucket(10, 5, 0)
    expect(Array.from({ length: 6 }, () => bucket.take(0))).toEqual([true, true, true, true, true, false])
    expect(bucket.waitMs(0)).toBe(100)
    expect(bucket.take(99)).toBe(false)
    expect(bucket.take(100)).toBe(true)
    expect(bucket.full(100)).toBe(false)
    expect(bucket.full(600)).toBe(true) // refilled, never past the burst
    expect(Array.from({ length: 6 }, () => bucket.take(10_000)).filter(Boolean)).toHaveLength(5)
  })

  it('charges a cost, takes nothing when it cannot pay it, and waits for the whole cost', () => {
    const bucket = createTokenBucket(2, 4, 1000)
    expect(bucket.take(1000, 3)).toBe(true)
    expect(bucket.take(1000, 2)).toBe(false) // 1 left: nothing taken
    expect(bucket.waitMs(1000, 2)).toBe(500)
    expect(bucket.waitMs(1000, 1)).toBe(0)
    expect(bucket.take(1500, 2)).toBe(true)
  })

  it('refills nothing when the clock goes backwards', () => {
    const bucket = createTokenBucket(10, 1, 1000)
    expect(bucket.take(1000)).toBe(true)
    expect(bucket.take(500)).toBe(false)
    expect(bucket.waitMs(500)).toBe(100) // counted from the latest time seen
    expect(bucket.take(1100)).toBe(true)
  })

  it('limits nothing at rate 0', () => {
    const bucket = createTokenBucket(0, 1, 0)
    expect(Array.from({ length: 1000 }, () => bucket.take(0)).every(Boolean)).toBe(true)
    expect(bucket.waitMs(0)).toBe(0)
  })
})
