/**
 * The per-session hash chain: hash = hex SHA-256 of prevHash followed by the RFC 8785
 * canonical JSON of the envelope without `position`, `hash` and `prevHash`.
 * Anyone can re-check an export offline with this one function.
 *
 * `version` is the last key in canonical order, so an event's canonical JSON is its
 * `chainBody` (everything up to and including `"version":`) + the version + `}`: the writer
 * seals the body before it knows the version, and the database finishes the hash
 * (migrations/0004).
 */
import { createHash } from 'node:crypto'
import type { EventEnvelope } from './types.js'

export const GENESIS_HASH = '0'.repeat(64)

export type HashedFields = Omit<EventEnvelope, 'position' | 'hash' | 'prevHash'>

/**
 * RFC 8785 canonical JSON: object keys sorted by UTF-16 code units, no whitespace, strings and
 * numbers as ECMAScript's JSON.stringify writes them. Output is byte for byte that of the
 * `canonicalize` package, with which every hash in existing logs was made (test/hash.test.ts
 * compares the two on random values); written as loops because the package's reduce over
 * template strings was 7% of the server's time at S3 (every event is sealed with it).
 */
export function canonicalJson(value: unknown): string {
  const text = serialize(value)
  if (text === undefined) throw new TypeError('cannot canonicalize a value with no JSON form')
  return text
}

// A string with none of these is its own JSON body; JSON.stringify is called for the rest
// (most strings here are short, and calling it costs more than writing them).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

const quote = (text: string): string => (NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"')

function serialize(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value)
    case 'number':
      if (Number.isNaN(value)) throw new Error('NaN is not allowed')
      if (!Number.isFinite(value)) throw new Error('Infinity is not allowed')
      return String(value) // ECMAScript's Number::toString, as JSON.stringify writes it (-0 as 0)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      return JSON.stringify(value) // undefined, a function or a symbol: no JSON form; a bigint throws
  }
  if (value === null) return 'null'
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (toJSON instanceof Function) return serialize(toJSON.call(value))
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      if (i > 0) out += ','
      out += item === undefined || typeof item === 'symbol' ? 'null' : String(serialize(item))
    }
    return out + ']'
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).sort()
  let out = '{'
  for (const key of keys) {
    const item = record[key]
    if (item === undefined || typeof item === 'symbol') continue
    if (out.length > 1) out += ','
    out += quote(key) + ':' + String(serialize(item))
  }
  return out + '}'
}

export function chainHash(prevHash: string, fields: HashedFields): string {
  const body: HashedFields = {
    id: fields.id,
    session: fields.session,
    version: fields.version,
    type: fields.type,
    data: fields.data,
    actor: fields.actor,
    meta: fields.meta,
    recordedAt: fields.recordedAt,
  }
  return createHash('sha256').update(prevHash).update(canonicalJson(body)).digest('hex')
}

const VERSION_TAIL = '"version":0}'

/** The canonical JSON of `fields` up to and including `"version":`; see the module comment. */
export function chainBody(fields: Omit<HashedFields, 'version'>): string {
  const text = canonicalJson({
    id: fields.id,
    session: fields.session,
    version: 0,
    type: fields.type,
    data: fields.data,
    actor: fields.actor,
    meta: fields.meta,
    recordedAt: fields.recordedAt,
  })
  if (!text.endsWith(VERSION_TAIL)) throw new Error('canonical JSON no longer ends with "version": the chain body cannot be split')
  return text.slice(0, -2)
}
