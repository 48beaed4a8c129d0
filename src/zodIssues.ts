/**
 * The one formatter of zod issues: messages that name the field (`data.tags[2]: must be a
 * string`), for request bodies, event data and anything else validated with zod.
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
export function describeIssue(issue: z.core.$ZodIssue, prefix: readonly PathKey[] = [], whole = 'value'): string[] {
  const at = (path: readonly PathKey[]) => formatPath([...prefix, ...path]) || whole
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${at([...issue.path, key])}: unknown field`)
    case 'invalid_type': {
      // Without `reportInput` the issue cannot tell a missing value from a wrong one.
      if (!('input' in issue)) return [`${at(issue.path)}: ${issue.message}`]
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

export interface IssuesMessageOptions {
  /** Path in front of every issue's own, e.g. `['data']` for an event's data. */
  prefix?: readonly PathKey[]
  /** What to call the whole value when an issue is about it; default `value`. */
  whole?: string
  /** Issues spelled out; the rest are counted. Default 5. */
  max?: number
}

/**
 * All issues of `error` as one message: `a: …; b: …; and 3 more`.
 *
 * @example
 * if (!parsed.success) throw badRequest(issuesMessage(parsed.error, { whole: 'body' }))
 */
export function issuesMessage(error: z.ZodError, { prefix = [], whole, max = 5 }: IssuesMessageOptions = {}): string {
  const lines = error.issues.flatMap((issue) => describeIssue(issue, prefix, whole))
  const more = lines.length > max ? `; and ${lines.length - max} more` : ''
  return lines.slice(0, max).join('; ') + more
}
