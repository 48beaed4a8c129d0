/**
 * The events the store benchmark appends: a `memory.formed` shaped like an agent's (about
 * 200 bytes of JSON data) and a `doc.update` carrying a ~100-byte binary Yjs-like payload.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { Actor, NewEvent } from '../../src/store/types.js'

export type EventKind = 'memory.formed' | 'doc.update'

const AGENT: Actor = { id: 'agent-researcher', name: 'Researcher', kind: 'agent', model: 'claude-sonnet-4' }
const HUMAN: Actor = { id: 'user-ada', name: 'Ada', kind: 'human' }

const TOPICS = ['the deploy pipeline', 'the billing schema', 'the on-call rota', 'the search index', 'the API limits']
const TAGS = [['deploy', 'ci'], ['db', 'billing'], ['ops'], ['search', 'perf'], ['api']]

// Random bytes are drawn once: the benchmark measures the store, not the random generator.
const PAYLOADS = Array.from({ length: 64 }, () => randomBytes(100))

/** A `memory.formed` whose data serializes to roughly 200 bytes; `n` varies the content. */
export function memoryFormed(n: number): NewEvent {
  const i = n % TOPICS.length
  return {
    type: 'memory.formed',
    data: {
      memoryId: randomUUID(),
      content: `#${n}: ${TOPICS[i]} stalls on Mondays.`,
      kind: 'fact',
      importance: 0.5 + (n % 50) / 100,
      tags: TAGS[i],
      connections: [{ to: `m-${n % 997}`, strength: 0.4 }],
    },
    actor: AGENT,
    meta: { correlationId: null, causationId: null },
  }
}

/** A `doc.update` as the server records a client's Yjs update: ~100 bytes of `bytea`. */
export function docUpdate(n: number): NewEvent {
  const payload = PAYLOADS[n % PAYLOADS.length]
  return {
    type: 'doc.update',
    data: { bytes: payload.length, changes: [{ path: 'notes', op: 'insert', key: `n${n % 100}` }] },
    payload,
    actor: HUMAN,
  }
}

export const EVENT_FACTORIES: Record<EventKind, (n: number) => NewEvent> = {
  'memory.formed': memoryFormed,
  'doc.update': docUpdate,
}

/** The JSON text of a typical `memory.formed` data object, for the pgbench reference row. */
export function sampleMemoryJson(): string {
  return JSON.stringify(memoryFormed(12345).data)
}
