/**
 * Agents under control, at the HTTP door: a suspended identity's requests are refused (403
 * `agent_suspended`) until it is resumed, and the routes find the shared budgets and
 * suspensions in the context (`c.get`: `chargeBudget`, sse.ts).
 */
import type { Context, MiddlewareHandler } from 'hono'
import { AuthError } from '../../auth/errors.js'
import type { Budgets, WriteCost } from '../../control/budgets.js'
import { suspendedMessage, type Suspensions } from '../../control/suspensions.js'
import { HttpError } from '../errors.js'

declare module 'hono' {
  interface ContextVariableMap {
    budgets: Budgets
    /** Absent where nothing follows suspensions (an app without a server: tests). */
    suspensions: Suspensions | undefined
  }
}

/** Mount after `identify`, so the identity is known. */
export const agentControl = ({ budgets, suspensions }: { budgets: Budgets; suspensions?: Suspensions }): MiddlewareHandler =>
  async function agentControl(c, next) {
    c.set('budgets', budgets)
    c.set('suspensions', suspensions)
    const identity = c.get('identity') as { id: string } | undefined // public paths have none
    const suspension = identity && suspensions?.get(identity.id)
    if (suspension) throw new AuthError('agent_suspended', suspendedMessage(suspension))
    return next()
  }

/**
 * Counts a write against the caller's `budget` claim, or throws the 429 (`error.reason:
 * "budget"`). Returns the refund, for a write that then is not stored.
 *
 * @example
 * const refund = chargeBudget(c, { events: 1, bytes })
 * if (!result.ok) refund()
 */
export function chargeBudget(c: Context, cost: WriteCost): () => void {
  const identity = c.get('identity')
  if (identity.budget === undefined) return () => {}
  const over = c.get('budgets').charge(identity, cost)
  if (over) {
    const headers: Record<string, string> = over.retryAfterSec === undefined ? {} : { 'Retry-After': String(over.retryAfterSec) }
    throw new HttpError(429, 'budget_exceeded', over.message, headers, { reason: 'budget', budget: over.budget, limit: over.limit })
  }
  return () => c.get('budgets').refund(identity, cost)
}
