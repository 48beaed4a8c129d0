/** Binary search over items sorted by a numeric key (log positions, Yjs clocks). */

/** The index of the last of `items` (sorted by `key`, ascending) whose key is at most `value`; -1 when none is. */
export function lastAtOrBefore<T>(items: readonly T[], value: number, key: (item: T) => number): number {
  let lo = 0
  let hi = items.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (key(items[mid]!) <= value) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}
