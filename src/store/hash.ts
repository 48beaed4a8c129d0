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
import canonicalizeModule from 'canonicalize'
import type { EventEnvelope } from './types.js'

// canonicalize ships CommonJS typings that NodeNext sees as a namespace object.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined

export const GENESIS_HASH = '0'.repeat(64)

export type HashedFields = Omit<EventEnvelope, 'position' | 'hash' | 'prevHash'>

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value)
  if (text === undefined) throw new TypeError('cannot canonicalize a value with no JSON form')
  return text
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
