/** The binary search blame's text runs and the inspector's scrubber share. */
import { describe, expect, it } from 'vitest'
import { lastAtOrBefore } from '../src/sorted.js'

describe('lastAtOrBefore', () => {
  const items = [1, 3, 3, 7, 10].map((position) => ({ position }))
  const at = (value: number) => lastAtOrBefore(items, value, (i) => i.position)

  it('finds the last item at or before a value, -1 before the first', () => {
    expect([0, 1, 2, 3, 6, 7, 9, 10, 99].map(at)).toEqual([-1, 0, 0, 2, 2, 3, 3, 4, 4])
    expect(lastAtOrBefore([], 5, (n: number) => n)).toBe(-1)
  })
})
