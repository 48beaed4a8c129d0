/**
 * The `budget` claim of tokens (auth/identity.ts): what one token may write. A write is a Yjs
 * update over sync, or an event appended over HTTP (a batch counts its events); its bytes are the
 * update's, or the events' `data` as UTF-8 JSON. `updatesPerMinute` is a token bucket (full at a
 * minute's worth, refilled continuously: tokenBucket.ts); `eventsPerRun` and `bytesPerRun` add up
 * over the token's run — the run its `run` claim binds it to, or, without one, the token's whole
 * life (a client naming a fresh `?run=` gets no fresh budget). The counts are kept in this
 * process: each instance counts what it took (README "Agents under control").
 */
import type { Budget, Identity } from '../auth/identity.js'
import { createTokenBucket, type TokenBucket } from '../tokenBucket.js'

export interface WriteCost {
  events: number
  bytes: number
}

/** A write refused: which limit, and what to tell the writer. */
export interface Overrun {
  budget: keyof Budget
  limit: number
  /** Seconds until the write would fit (`updatesPerMinute` only; a per-run budget does not come back). */
  retryAfterSec?: number
  message: string
}

export interface Budgets {
  /** Counts `cost` against the identity's budget and returns undefined, or returns the overrun and counts nothing. */
  charge(identity: Identity, cost: WriteCost): Overrun | undefined
  /** Gives back what a write that was then not stored had counted against the per-run budgets. */
  refund(identity: Identity, cost: WriteCost): void
  /** Tokens with a budget being counted. */
  size(): number
}

interface Account {
  rate?: TokenBucket
  events: number
  bytes: number
  /** When the token expires (epoch ms): its account is worth nothing after. */
  expiresAt: number
}

export interface BudgetOptions {
  /** Accounts kept before expired, then the oldest, are forgotten; default 100,000. */
  maxAccounts?: number
  clock?: () => number
}

/**
 * @example
 * const budgets = createBudgets()
 * const over = budgets.charge(conn.identity, { events: 1, bytes: update.length })
 * if (over) closeConnection(conn, 4429, over.message)
 */
export function createBudgets({ maxAccounts = 100_000, clock = Date.now }: BudgetOptions = {}): Budgets {
  const accounts = new Map<string, Account>()

  function accountOf(identity: Identity, budget: Budget, now: number): Account {
    const key = accountKey(identity)
    let account = accounts.get(key)
    if (!account) {
      if (accounts.size >= maxAccounts) prune(now)
      const perMinute = budget.updatesPerMinute
      account = {
        rate: perMinute === undefined ? undefined : createTokenBucket(perMinute / 60, perMinute, now),
        events: 0,
        bytes: 0,
        expiresAt: identity.exp === undefined ? Infinity : identity.exp * 1000,
      }
      accounts.set(key, account)
    }
    return account
  }

  function prune(now: number): void {
    for (const [key, account] of accounts) if (account.expiresAt < now) accounts.delete(key)
    for (const key of accounts.keys()) {
      if (accounts.size < maxAccounts) break
      accounts.delete(key)
    }
  }

  return {
    charge(identity, cost) {
      const budget = identity.budget
      if (budget === undefined) return undefined
      const now = clock()
      const account = accountOf(identity, budget, now)
      const run = identity.run === undefined ? 'this token' : `run ${JSON.stringify(identity.run)}`
      if (budget.eventsPerRun !== undefined && account.events + cost.events > budget.eventsPerRun) {
        return overrun('eventsPerRun', budget.eventsPerRun, `${budget.eventsPerRun} writes in ${run}, and ${account.events} are spent`)
      }
      if (budget.bytesPerRun !== undefined && account.bytes + cost.bytes > budget.bytesPerRun) {
        return overrun('bytesPerRun', budget.bytesPerRun, `${budget.bytesPerRun} bytes in ${run}, and ${account.bytes} are spent`)
      }
      if (account.rate && !account.rate.take(now, cost.events)) {
        const limit = budget.updatesPerMinute!
        if (cost.events > limit) return overrun('updatesPerMinute', limit, `${limit} writes a minute, fewer than the ${cost.events} of this request`)
        const seconds = Math.max(1, Math.ceil(account.rate.waitMs(now, cost.events) / 1000))
        return { ...overrun('updatesPerMinute', limit, `${limit} writes a minute; retry after ${seconds} s`), retryAfterSec: seconds }
      }
      account.events += cost.events
      account.bytes += cost.bytes
      return undefined
    },
    refund(identity, cost) {
      if (identity.budget === undefined) return
      const account = accounts.get(accountKey(identity))
      if (!account) return
      account.events = Math.max(0, account.events - cost.events)
      account.bytes = Math.max(0, account.bytes - cost.bytes)
    },
    size: () => accounts.size,
  }
}

/** The token (its `jti`; a token without one counts with every other of its `sub`). */
function accountKey(identity: Identity): string {
  return identity.tokenId !== undefined ? `jti:${identity.tokenId}` : `sub:${identity.id}`
}

function overrun(budget: keyof Budget, limit: number, detail: string): Overrun {
  return { budget, limit, message: `over budget (${budget}): the token allows ${detail}` }
}

