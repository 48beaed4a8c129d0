/**
 * Turns validation failures into messages that name the field (`data.tags[2]: …`), and
 * finds strings PostgreSQL's jsonb cannot store, before the database refuses them with a 500.
 */
import type { z } from 'zod'

export type PathKey = string | number | symbol

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `['data', 'connections', 0, 'to']` → `data.connections[0].to`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out ? `.${key}` : key
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`
}

function tooBig(issue: { origin: string; maximum: number | bigint; inclusive?: boolean }): string {
  if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`
  if (issue.origin === 'array') return `must have at most ${issue.maximum} items`
  return issue.inclusive === false ? `must be less than ${issue.maximum}` : `must be at most ${issue.maximum}`
}

function tooSmall(issue: { origin: string; minimum: number | bigint; inclusive?: boolean }): string {
  if (issue.origin === 'string') return Number(issue.minimum) === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`
  if (issue.origin === 'array') return `must have at least ${issue.minimum} items`
  return issue.inclusive === false ? `must be greater than ${issue.minimum}` : `must be at least ${issue.minimum}`
}

/** One zod issue as `path: problem` lines (unknown keys give one line each). */
export function describeIssue(issue: z.core.$ZodIssue, prefix: readonly PathKey[] = []): string[] {
  const at = (path: readonly PathKey[]) => formatPath([...prefix, ...path]) || 'value'
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${at([...issue.path, key])}: unknown field`)
    case 'invalid_type': {
      if (issue.input === undefined) return [`${at(issue.path)}: is required`]
      const expected = issue.expected === 'int' ? 'integer' : issue.expected
      return [`${at(issue.path)}: must be ${article(expected)}`]
    }
    case 'too_big':
      return [`${at(issue.path)}: ${tooBig(issue)}`]
    case 'too_small':
      return [`${at(issue.path)}: ${tooSmall(issue)}`]
    case 'invalid_value':
      return [`${at(issue.path)}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`]
    default:
      return [`${at(issue.path)}: ${issue.message}`]
  }
}

export interface UnstorableString {
  path: PathKey[]
  problem: string
}

// A lone surrogate serialises as a \uD8xx escape, which jsonb also refuses.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function stringProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain U+0000 (PostgreSQL jsonb cannot store it)'
  if (LONE_SURROGATE.test(s)) return 'must not contain unpaired UTF-16 surrogates (not valid Unicode)'
  return undefined
}

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
 * The first string (value or field name) in `value` that jsonb cannot hold, or the first
 * container nested deeper than `maxDepth`. Iterative, because 64 KiB of `[[[[…` nests
 * deeper than a recursive walk's stack allows.
 */
export function findUnstorableString(value: unknown, maxDepth = 64): UnstorableString | undefined {
  const stack: Visit[] = [{ value, depth: 0, key: undefined, parent: undefined }]
  while (stack.length > 0) {
    const visit = stack.pop()!
    const v = visit.value
    if (typeof v === 'string') {
      const problem = stringProblem(v)
      if (problem) return { path: pathOf(visit), problem }
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
