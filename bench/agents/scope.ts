/**
 * The cost of a scoped token's check per Yjs update (collab/scope.ts), beside what every update
 * costs anyway on the server's path without it: decode the update, summarize its changes for
 * the log and apply it to the room's document. Typical agent updates (an annotation with text,
 * a selection, a path step, a vote) against a document of 1,000 entries, in this process.
 */
import * as Y from 'yjs'
import { parseScope } from '../../src/auth/capabilities.js'
import { scopeRefusal } from '../../src/collab/scope.js'
import { annotate, explore, select } from '../../src/session/write.js'
import { summarizeUpdate } from '../../src/session/summarizeUpdate.js'

export interface ScopeResult {
  updates: number
  /** µs per update: decode, summarize and apply (every update pays this). */
  uncheckedUs: number
  /** µs per update: the same plus the scope check. */
  checkedUs: number
  /** µs per update: the scope check alone. */
  checkUs: number
}

function updatesOf(base: Y.Doc, count: number): Uint8Array[] {
  const updates: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(base))
    const before = Y.encodeStateVector(doc)
    if (i % 3 === 0) annotate(doc, { id: `n-${i}`, target: `m-${i % 1000}`, author: 'agent', text: `an observation number ${i} about the lead` })
    else if (i % 3 === 1) select(doc, `new-${i}`, 'agent')
    else explore(doc, { memoryId: `m-${i % 1000}`, by: 'agent', note: 'next' })
    updates.push(Y.encodeStateAsUpdate(doc, before))
  }
  return updates
}

export function measureScope(count = 3_000): ScopeResult {
  const base = new Y.Doc()
  for (let i = 0; i < 1000; i++) {
    if (i % 2) select(base, `m-${i}`, 'human')
    else annotate(base, { id: `a-${i}`, target: `m-${i}`, author: 'human', text: `note ${i}` })
  }
  const updates = updatesOf(base, count)
  const scope = parseScope(['annotations:write', 'selections:write', 'explorationPath:write', 'decisions:vote'])
  const fresh = () => {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(base))
    return doc
  }
  const run = (check: boolean, only = false): number => {
    const doc = fresh()
    const start = process.hrtime.bigint()
    for (const update of updates) {
      const decoded = Y.decodeUpdate(update)
      if (check && scopeRefusal(doc, decoded, scope, 'agent') !== undefined) throw new Error('an in-scope update was refused')
      if (only) continue
      summarizeUpdate(doc, update, decoded)
      Y.applyUpdate(doc, update)
    }
    return Number(process.hrtime.bigint() - start) / 1000 / updates.length
  }
  // Warm up, then the best of five of each (the least disturbed).
  run(true); run(false)
  const best = (f: () => number) => Math.min(...Array.from({ length: 5 }, f))
  const uncheckedUs = best(() => run(false))
  const checkedUs = best(() => run(true))
  const decodeOnly = best(() => run(false, true))
  const checkOnly = best(() => run(true, true))
  return { updates: count, uncheckedUs, checkedUs, checkUs: Math.max(0, checkOnly - decodeOnly) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = measureScope()
  console.log(`scope checks, ${r.updates} updates: unchecked ${r.uncheckedUs.toFixed(1)} µs/update, checked ${r.checkedUs.toFixed(1)} µs/update; the check alone ${r.checkUs.toFixed(1)} µs`)
}
