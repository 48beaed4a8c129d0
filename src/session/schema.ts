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

/** One entry a Yjs update touched, as `doc.update` events record it. */
export interface Change {
  path: RootName
  op: 'add' | 'update' | 'delete'
  key: string
}
