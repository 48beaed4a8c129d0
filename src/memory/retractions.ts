/**
 * Retracted memory events: a `run.reverted { run }` event takes back the document changes of
 * a run and retracts the memory events that run recorded before it, so that the memory graph,
 * search and context no longer count them. The log keeps them: a replay up to a position
 * before the revert still shows them. Pure: what the projection, the cascade graph cache and
 * the context fold share.
 */

/** The event that reverts a run (recorded by the server only). */
export const RUN_REVERTED = 'run.reverted'

/** By session, then run: the position of the run's `run.reverted`. */
export type Retractions = Map<string, Map<string, number>>

interface Reverted {
  session: string
  position: number
  type: string
  data: Record<string, unknown>
}

interface Recorded {
  session: string
  position: number
  actor: { run?: string }
}

/** Folds a `run.reverted` event in (any other event is ignored). */
export function noteReverted(retractions: Retractions, event: Reverted): void {
  if (event.type !== RUN_REVERTED || typeof event.data.run !== 'string') return
  let runs = retractions.get(event.session)
  if (!runs) retractions.set(event.session, (runs = new Map()))
  // The first revert counts: one run is reverted once.
  if (!runs.has(event.data.run)) runs.set(event.data.run, event.position)
}

/** Whether the event was recorded by a run reverted after it. */
export function isRetracted(retractions: Retractions, { session, position, actor }: Recorded): boolean {
  if (actor.run === undefined) return false
  const at = retractions.get(session)?.get(actor.run)
  return at !== undefined && position < at
}
