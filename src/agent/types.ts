/**
 * The SDK's public shapes: what the server sends back (event envelopes, search results, the
 * context summary, the memory graph) and the options every write takes. Kept here rather
 * than imported from the server's folders, which the SDK must not depend on; the words it
 * shares with the server come from src/vocabulary.ts, which imports nothing.
 */
import type { ChangeOp, RootName, SessionState } from '../session/schema.js'
import type { Actor, SessionParticipant } from '../vocabulary.js'
import type { StaleEntry } from '../session/history.js'

export type { Activity, ActivityChange, ActivityGroup, BlameEntry, RunRevert, StaleEntry, TouchedByOthers } from '../session/history.js'
export type { DiffEntry } from '../session/diff.js'

export type {
  AcceptedProposal, DiffEntry as ProposalDiffEntry, Inapplicable, Proposal, ProposalStatus, RejectedProposal, TextPiece,
} from '../session/proposals.js'

export type { Annotation, Decision, PathStep, Selection, SessionState } from '../session/schema.js'

export type { Actor, ActorKind, Participant, SessionParticipant } from '../vocabulary.js'

/** An event as the server records it (SPEC "Events"). */
export interface EventEnvelope {
  id: string
  session: string
  position: number
  version: number
  type: string
  data: Record<string, unknown>
  actor: Actor
  meta: { causationId: string | null; correlationId: string | null; rationale?: string }
  recordedAt: string
  hash: string
  prevHash: string
}

/** An agent's suspension, as `POST /api/agents/:id/suspend` and `…/resume` answer it. */
export interface AgentSuspension {
  agent: string
  suspended: boolean
  /** While suspended: since when, by whom, why, for whom the agent acts, and the position of its `agent.suspended`. */
  since?: string
  by?: Actor
  reason?: string
  onBehalfOf?: string
  position?: number
  /** A resume: whether a suspension was lifted (false when the agent was not suspended). */
  resumed?: boolean
}

/** Where an appended event landed. */
export interface EventRef {
  id: string
  position: number
  version: number
}

/** Every write may say why; see the README for where a Yjs edit's rationale goes. */
export interface WriteOptions {
  rationale?: string
}

/** A document write may also say what it was based on. */
export interface DocWriteOptions extends WriteOptions {
  /**
   * The session version this write is based on (from `read()`, or any answer that names a
   * version). The write then goes over HTTP (`POST …/doc`) and is refused with MnemoError
   * 409 `stale_write` when someone else changed an entry it writes after that version.
   */
  basedOn?: number
  /**
   * `propose`: a write that would be refused as stale opens a proposal instead (`writeDocument`
   * answers its `proposal` and `conflicts`; a single operation resolves as if written).
   */
  onConflict?: 'propose'
  /** With `onConflict`: the proposal's title (default "Stale write: <ops>"). */
  title?: string
}

/** `POST …/doc`'s answer: where the `doc.update` landed, and the entry each operation wrote. */
export interface DocWriteResult {
  version: number
  position: number
  entries: Array<{ op: string; path: RootName; key: string }>
  /** The Yjs update stored (base64); null when the operations changed nothing, or became a proposal. */
  update: string | null
  /** With `onConflict: 'propose'`, a stale write opened this proposal instead (`version`, `position`: its `proposal.opened`). */
  proposal?: { id: string }
  /** With `proposal`: the entries others changed after `basedOn`. */
  conflicts?: StaleEntry[]
}



export interface ActivityQuery {
  /** An actor id. */
  actor?: string
  run?: string
  /** ISO 8601 date-times (or Dates): recorded at or after, at or before. */
  from?: string | Date
  to?: string | Date
  /** The `next` of the page before. */
  after?: number
  /** `doc.update` events read at most, 1..10000 (default 1000). */
  limit?: number
}




/** The session as the server has it: what `read()` returns. */
export interface SessionRead {
  version: number
  position: number
  state: SessionState
}

/** A participant of the session with its live presence: what `participants()` returns. */
export interface LiveParticipant extends SessionParticipant {
  /** Connected now (the log's joined/left, or a live awareness state). */
  online: boolean
  /** What the participant's awareness says, while it is connected. */
  presence?: Presence
}

export interface Presence {
  /** Free text such as `thinking`, `reading`, `idle`. */
  status?: string
  /** The memory the participant is looking at, or null. */
  focus?: string | null
}

export interface NewMemory {
  /** Default: a random uuid. */
  memoryId?: string
  content: string
  /** 0..1, default 0.5. */
  importance?: number
  kind?: string
  tags?: string[]
  connections?: Array<{ to: string; strength: number }>
}

export interface SearchHit {
  memoryId: string
  score: number
  content: string
  kind?: string
  importance: number
  tags: string[]
}

export interface SearchResult {
  query: string
  results: SearchHit[]
  /** The `memory.retrieved` event the server recorded. */
  event: EventRef
}

export interface MemoryGraph {
  session: string
  memories: Array<{ id: string; content: string; kind?: string; importance: number; tags: string[] }>
  connections: Array<{ from: string; to: string; strength: number }>
}

/** `GET …/context?format=json`: the compact summary for a model's context window. */
export interface SessionContext {
  session: string
  participants: SessionParticipant[]
  selections: Array<{ memoryId: string; by: string; byName: string; content?: string }>
  explorationPath: Array<{ step: number; memoryId: string; by: string; byName: string; note?: string; content?: string }>
  openAnnotations: Array<{ id: string; target: string; author: string; authorName: string; text: string }>
  decisions: Array<{
    id: string
    question: string
    status: 'open' | 'accepted' | 'rejected'
    outcome?: string
    quorum: number
    tally: Array<{ option: string; votes: number }>
  }>
  /** Each rich-text field (a Tiptap document in the session) as the start of its plain text. */
  richText: Array<{ field: string; excerpt: string; characters: number }>
  recentMemoryEvents: Array<{ position: number; type: string; line: string }>
  omitted: Record<string, number>
}

export interface StateChange {
  /** True when this SDK's own edit caused the change. */
  local: boolean
}

export type ChangeListener = (state: SessionState, change: StateChange) => void
