/**
 * A scoped token's Yjs updates (its `can` claim, auth/capabilities.ts): every place the update
 * writes (session/touches.ts) must be in a collection the token may write, or, with
 * `decisions:vote`, be the token holder's own entry of a decision's `votes`. One place outside
 * refuses the whole update. Only connections with a scope pay for this.
 */
import { WRITABLE_COLLECTIONS, type Scope } from '../auth/capabilities.js'
import type { DecodedUpdate } from '../session/summarizeUpdate.js'
import { findTouch, type Touch } from '../session/touches.js'
import type * as Y from 'yjs'

/**
 * Why `scope` refuses `decoded` (relative to `doc`), as a close reason naming the path, or
 * undefined when every write is in scope. `voter`: the participant whose votes are its own.
 */
export function scopeRefusal(doc: Y.Doc, decoded: DecodedUpdate, scope: Scope, voter: string): string | undefined {
  let needs = ''
  const touch = findTouch(doc, decoded, (t) => {
    needs = missingCapability(t, scope, voter) ?? ''
    return needs !== ''
  })
  if (!touch) return undefined
  if (!touch.path) return `out of scope: an edit the server cannot place in the document (${touch.op})`
  return `out of scope (${needs}): ${describePath(touch)}`
}

function missingCapability({ path }: Touch, scope: Scope, voter: string): string | undefined {
  if (!path) return 'unplaceable'
  if (scope.writes.has(path.root)) return undefined
  if (path.root === 'decisions' && scope.vote && isOwnVote(path.subs, voter)) return undefined
  if ((WRITABLE_COLLECTIONS as readonly string[]).includes(path.root)) return `needs ${path.root}:write`
  return 'not a collection of the session document'
}

/** `decisions/<id>/votes/<voter>` itself: the value of one's own vote, set or removed. */
function isOwnVote(subs: (string | null)[], voter: string): boolean {
  return subs.length === 3 && subs[0] !== null && subs[1] === 'votes' && subs[2] === voter
}

/** `annotations/a1/text`: the root and the map keys on the way (sequence positions left out). */
function describePath({ path }: Touch): string {
  return [path!.root, ...path!.subs.filter((sub): sub is string => sub !== null)].join('/')
}
