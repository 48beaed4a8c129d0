/**
 * Finds what the log cannot store faithfully, before the database refuses it with a 500:
 * strings PostgreSQL cannot hold (U+0000, unpaired surrogates) and numbers beyond the range
 * of a double (`1e400` parses as Infinity, which JSON cannot express). Every door into the
 * log refuses them with a 400 naming the field. (Zod issues become messages in src/zodIssues.ts.)
 */
import { z } from 'zod'
import type { PathKey } from '../zodIssues.js'

export interface Unstorable {
  path: PathKey[]
  problem: string
}

// A lone surrogate serialises as a \uD8xx escape, which jsonb also refuses.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why PostgreSQL cannot store `s` (in jsonb or text), or undefined when it can. */
export function stringProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain U+0000 (PostgreSQL jsonb cannot store it)'
  if (LONE_SURROGATE.test(s)) return 'must not contain unpaired UTF-16 surrogates (not valid Unicode)'
  return undefined
}

const NUMBER_PROBLEM = 'must be a finite number (JSON numbers beyond ±1.7976931348623157e308 cannot be stored)'

/**
 * A string schema that refuses what PostgreSQL cannot store, for text fields of request
 * bodies (titles, queries, rationales).
 */
export const storableString = () =>
  z.string().superRefine((s, ctx) => {
    const problem = stringProblem(s)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })

/** A node of the walk: paths are rebuilt from parent links only when something is found. */
interface Visit {
  value: unknown
  depth: number
  key: PathKey | undefined
  parent: Visit | undefined
}

function pathOf(visit: Visit | undefined): PathKey[] {
  const path: PathKey[] = []
  for (let v = visit; v && v.key !== undefined; v = v.parent) path.unshift(v.key)
  return path
}

/**
 * The first string (value or field name) in `value` that jsonb cannot hold, the first number
 * that is not finite, or the first container nested deeper than `maxDepth`. Iterative, because 64 KiB of `[[[[…` nests
 * deeper than a recursive walk's stack allows.
 */
export function findUnstorable(value: unknown, maxDepth = 64): Unstorable | undefined {
  const stack: Visit[] = [{ value, depth: 0, key: undefined, parent: undefined }]
  while (stack.length > 0) {
    const visit = stack.pop()!
    const v = visit.value
    if (typeof v === 'string') {
      const problem = stringProblem(v)
      if (problem) return { path: pathOf(visit), problem }
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { path: pathOf(visit), problem: NUMBER_PROBLEM }
    } else if (typeof v === 'object' && v !== null && visit.depth >= maxDepth) {
      return { path: pathOf(visit), problem: `must not nest objects and arrays more than ${maxDepth} levels deep` }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth: visit.depth + 1, key: i, parent: visit })
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v)
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]
        const keyProblem = stringProblem(key)
        if (keyProblem) return { path: [...pathOf(visit), key], problem: `field name ${keyProblem}` }
        stack.push({ value: child, depth: visit.depth + 1, key, parent: visit })
      }
    }
  }
  return undefined
}
