/** Budgets without a server: the counting of control/budgets.ts on a stepped clock. */
import { describe, expect, it } from 'vitest'
import type { Identity } from '../src/auth/identity.js'
import { createBudgets } from '../src/control/budgets.js'

const agent = (more: Partial<Identity> = {}): Identity =>
  ({ id: 'bot', name: 'Bot', kind: 'agent', role: 'editor', sessions: ['*'], tokenId: 't-1', exp: 2_000_000_000, ...more })

describe('createBudgets', () => {
  it('charges nothing to a token without a budget', () => {
    const budgets = createBudgets()
    for (let i = 0; i < 1000; i++) expect(budgets.charge(agent(), { events: 1, bytes: 1e6 })).toBeUndefined()
    expect(budgets.size()).toBe(0)
  })

  it('updatesPerMinute: a minute\'s worth at once, then refilled with time, with the wait', () => {
    let now = 0
    const budgets = createBudgets({ clock: () => now })
    const id = agent({ budget: { updatesPerMinute: 6 } })
    for (let i = 0; i < 6; i++) expect(budgets.charge(id, { events: 1, bytes: 0 })).toBeUndefined()
    expect(budgets.charge(id, { events: 1, bytes: 0 })).toMatchObject({ budget: 'updatesPerMinute', limit: 6, retryAfterSec: 10 })
    now += 10_000
    expect(budgets.charge(id, { events: 1, bytes: 0 })).toBeUndefined()
    expect(budgets.charge(id, { events: 7, bytes: 0 })?.message).toContain('fewer than the 7 of this request')
  })

  it('per run: events and bytes add up per token, refunds give back, other tokens count apart', () => {
    const budgets = createBudgets()
    const id = agent({ budget: { eventsPerRun: 3, bytesPerRun: 100 }, run: 'r-1' })
    expect(budgets.charge(id, { events: 2, bytes: 50 })).toBeUndefined()
    expect(budgets.charge(id, { events: 2, bytes: 10 })).toMatchObject({ budget: 'eventsPerRun', limit: 3 })
    expect(budgets.charge(id, { events: 1, bytes: 60 })).toMatchObject({ budget: 'bytesPerRun', limit: 100 })
    budgets.refund(id, { events: 2, bytes: 50 })
    expect(budgets.charge(id, { events: 3, bytes: 100 })).toBeUndefined()
    expect(budgets.charge(id, { events: 1, bytes: 0 })?.message).toBe('over budget (eventsPerRun): the token allows 3 writes in run "r-1", and 3 are spent')
    expect(budgets.charge({ ...id, tokenId: 't-2' }, { events: 3, bytes: 0 })).toBeUndefined()
  })

  it('forgets expired tokens first when it holds too many', () => {
    let now = 0
    const budgets = createBudgets({ maxAccounts: 2, clock: () => now })
    const spent = agent({ tokenId: 'old', exp: 1, budget: { eventsPerRun: 1 } })
    budgets.charge(spent, { events: 1, bytes: 0 })
    const live = agent({ tokenId: 'live', budget: { eventsPerRun: 1 } })
    budgets.charge(live, { events: 1, bytes: 0 })
    now = 5_000
    budgets.charge(agent({ tokenId: 'new', budget: { eventsPerRun: 1 } }), { events: 1, bytes: 0 })
    expect(budgets.size()).toBe(2)
    expect(budgets.charge(live, { events: 1, bytes: 0 })).toMatchObject({ budget: 'eventsPerRun' })
  })
})
