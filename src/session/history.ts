/**
 * What the log says of a session's entries, as the server answers it and the SDK types it:
 * the entries a stale write names, blame, activity and a run's revert (replay/staleWrites.ts, blame.ts,
 * activity.ts, revertRun.ts compute them; src/agent re-exports these types, as it may not import server code).
 */
import type { ChangeOp, RootName } from './schema.js'
import type { Actor } from '../vocabulary.js'
import type { DiffEntry } from './diff.js'

/** An entry someone else changed since: the newest such change (`error.details` of a 409 `stale_write`). */
export interface StaleEntry {
  path: RootName
  key: string
  /** For a vote: whose. */
  vote?: string
  /** Who changed it last. */
  by: Actor
  /** The session version and position of that change, and when it was recorded. */
  version: number
  position: number
  at: string
}

export interface BlameEntry {
  path: RootName
  key: string
  /** An exploration step: its Yjs id (`client:clock`) and its index in the path. */
  step?: string
  index?: number
  /** A vote: the voter (the vote's key in decision `key`'s votes). */
  vote?: string
  createdBy: Actor | null
  createdAt: string | null
  lastChangedBy: Actor | null
  lastChangedAt: string | null
  /** The session version of the last change: a `basedOn` that has seen it. */
  lastChangedVersion: number | null
  /** The run and rationale of the last change. */
  run?: string
  rationale?: string
  /** An annotation: its text in runs by who wrote them. */
  text?: TextRange[]
}

/**
 * A run of an annotation's text written by one `doc.update`: characters `[from, to)` as
 * Y.Text counts them (UTF-16 code units); `by: null` when no summarized update carried them.
 */
export interface TextRange {
  from: number
  to: number
  by: Actor | null
  at: string | null
  version: number | null
  run?: string
}

export interface ActivityChange {
  path: RootName
  op: ChangeOp
  key: string
  position: number
  version: number
  step?: string
  fields?: string[]
  votes?: Array<{ key: string; op: ChangeOp }>
  rationale?: string
}

export interface ActivityGroup {
  actor: Actor
  /** The run, null for changes made without one. */
  run: string | null
  /** When its first and last change were recorded. */
  from: string
  to: string
  changes: ActivityChange[]
}

export interface Activity {
  groups: ActivityGroup[]
  /** The `after` of the next page; null when this one reached the end of the range. */
  next: number | null
}

/** An entry a run changed that someone else changed after it (a revert's `touchedByOthers`). */
export interface TouchedByOthers {
  path: RootName
  key: string
  /** The last of those changes: who, at which session version. */
  by: Actor
  version: number
}

/** The answer of `POST …/runs/:run/revert` (dry or not). */
export interface RunRevert {
  run: string
  dryRun: boolean
  /** The entries the revert changes (would change). */
  diff: DiffEntry[]
  /** The run's `doc.update` events taken back, and its memory events retracted. */
  updates: number
  memoryEvents: number
  touchedByOthers: TouchedByOthers[]
  /** Stored: the first event's version and position, and the `run.reverted` event's id (the `doc.update`'s causation). */
  version?: number
  position?: number
  event?: string
}
