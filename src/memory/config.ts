/**
 * Cascade settings from the environment (MNEMO_CASCADE_*), checked at startup so a typo
 * stops the server with a message naming the variable rather than skewing every cascade.
 */
import { CASCADE_DEFAULTS } from './cascade.js'

export interface CascadeConfig {
  /** Factor per hop, 0 < decay ≤ 1. */
  decay: number
  /** Activations below this are not reached, 0 ≤ min < 1. */
  min: number
  /** Deepest hop reached, an integer 1..32. */
  maxDepth: number
  /** Importance at or above which memory events cascade on their own, 0..1. */
  threshold: number
}

export const DEFAULT_CASCADE_CONFIG: Readonly<CascadeConfig> = Object.freeze({
  decay: CASCADE_DEFAULTS.decay,
  min: CASCADE_DEFAULTS.min,
  maxDepth: CASCADE_DEFAULTS.maxDepth,
  threshold: CASCADE_DEFAULTS.threshold,
})

export const MAX_CASCADE_DEPTH = 32

// Plain decimals only: Number() would also accept '', '0x1', 'Infinity' and ' 1 '.
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

interface Rule {
  name: string
  allowed: string
  test: (x: number) => boolean
}

function readNumber(env: Readonly<Record<string, string | undefined>>, rule: Rule, fallback: number): number {
  const raw = env[rule.name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = DECIMAL.test(raw.trim()) ? Number(raw.trim()) : NaN
  if (!Number.isFinite(value) || !rule.test(value)) {
    throw new Error(`${rule.name} must be ${rule.allowed} (got ${JSON.stringify(raw)}); unset it for the default ${fallback}`)
  }
  return value
}

/**
 * Reads MNEMO_CASCADE_DECAY, MNEMO_CASCADE_MIN, MNEMO_CASCADE_DEPTH and
 * MNEMO_CASCADE_THRESHOLD; unset or empty means the default. Throws on anything else.
 *
 * @example
 * readCascadeConfig(process.env) // { decay: 0.5, min: 0.05, maxDepth: 4, threshold: 0.5 }
 */
export function readCascadeConfig(env: Readonly<Record<string, string | undefined>>): CascadeConfig {
  const d = DEFAULT_CASCADE_CONFIG
  return {
    decay: readNumber(env, { name: 'MNEMO_CASCADE_DECAY', allowed: 'a number greater than 0 and at most 1', test: (x) => x > 0 && x <= 1 }, d.decay),
    min: readNumber(env, { name: 'MNEMO_CASCADE_MIN', allowed: 'a number at least 0 and less than 1', test: (x) => x >= 0 && x < 1 }, d.min),
    maxDepth: readNumber(
      env,
      {
        name: 'MNEMO_CASCADE_DEPTH',
        allowed: `a whole number from 1 to ${MAX_CASCADE_DEPTH}`,
        test: (x) => Number.isInteger(x) && x >= 1 && x <= MAX_CASCADE_DEPTH,
      },
      d.maxDepth,
    ),
    threshold: readNumber(env, { name: 'MNEMO_CASCADE_THRESHOLD', allowed: 'a number from 0 to 1', test: (x) => x >= 0 && x <= 1 }, d.threshold),
  }
}
