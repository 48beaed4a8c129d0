/**
 * The session document's schema (SPEC "The session document"): the names of its root
 * types and the plain shapes its entries read as. Shared by the server, HTTP API and SDK.
 */

/** Root type names; `explorationPath` is a Y.Array, the others are Y.Maps. */
export const ROOTS = {
  selections: 'selections',
  explorationPath: 'explorationPath',
  annotations: 'annotations',
  decisions: 'decisions',
} as const

export type RootName = (typeof ROOTS)[keyof typeof ROOTS]

/** `selections`: memoryId → who selected it, when (epoch ms). */
export interface Selection {
  by: string
  at: number
}

/** One step of `explorationPath`, in order. */
export interface PathStep {
  memoryId: string
  by: string
  at: number
  note?: string
}

/** `annotations`: a Y.Map each, its `text` a Y.Text (read as a string). */
export interface Annotation {
  id: string
  target: string
  author: string
  createdAt: number
  text: string
  resolved: boolean
}

export type DecisionStatus = 'open' | 'accepted' | 'rejected'

/** `decisions`: a Y.Map each, `options` a Y.Array<string>, `votes` a Y.Map<participantId, option>. */
export interface Decision {
  id: string
  question: string
  options: string[]
  votes: Record<string, string>
  quorum: number
  status: DecisionStatus
  outcome?: string
  createdBy: string
}

export interface SessionState {
  selections: Record<string, Selection>
  explorationPath: PathStep[]
  annotations: Record<string, Annotation>
  decisions: Record<string, Decision>
}

export type ChangeOp = 'add' | 'update' | 'delete'

/**
 * One entry a Yjs update touched, as `doc.update` events record it. `path`, `op` and `key`
 * are always there; the rest says more where it applies (and is absent in events recorded
 * before it was added).
 */
export interface Change {
  path: RootName
  op: ChangeOp
  key: string
  /**
   * `explorationPath` only: the step's Yjs id, `client:clock`. Steps of one memory share a
   * key (its memoryId); the step id tells them apart, one change per step.
   */
  step?: string
  /** An `update` inside an annotation or decision: the entry's fields it touched, sorted (`text`, `resolved`, `votes`, `status`, …). */
  fields?: string[]
  /** `decisions` only: the votes the update cast, changed or removed, by voter (participantId), sorted. */
  votes?: VoteChange[]
}

/**
 * A rich-text field (a `Y.XmlFragment` root beside the four collections, see richText.ts) that an
 * update edited: `key` is the fragment's name; `op` is always `update` (a root is never added or
 * removed; emptying it is an edit too).
 */
export interface RichTextChange {
  path: 'richText'
  op: 'update'
  key: string
}

/** What a `doc.update`'s `changes` hold: entries of the four collections, and rich-text fields. */
export type DocChange = Change | RichTextChange

export interface VoteChange {
  /** The voter's participantId: the vote's key in the decision's `votes`. */
  key: string
  op: ChangeOp
}
