import { describe, expect, it } from 'vitest'
import { AuthError } from '../src/auth/errors.js'
import { labelProblem, openIdentity, toActor, withRun } from '../src/auth/identity.js'
import type { Identity } from '../src/auth/identity.js'

describe('openIdentity', () => {
  it('gives an anonymous caller a random id, kind human, admin of every session', () => {
    const a = openIdentity()
    const b = openIdentity({ id: null, name: '', kind: null })
    expect(a.id).not.toBe(b.id)
    expect(a).toEqual({ id: a.id, name: a.id, kind: 'human', role: 'admin', sessions: ['*'] })
    expect(a.id.length).toBeGreaterThan(8)
  })

  it('takes id, name, kind and run from the caller', () => {
    expect(openIdentity({ id: 'agent-7', name: 'Navigator', kind: 'agent', run: 'r-7', model: 'claude', onBehalfOf: 'ada' })).toEqual({
      id: 'agent-7', name: 'Navigator', kind: 'agent', role: 'admin', sessions: ['*'], run: 'r-7', model: 'claude', onBehalfOf: 'ada',
    })
    expect(openIdentity({ id: 'ada' }).name).toBe('ada')
    expect(openIdentity({ name: 'Zoë 🦊' }).name).toBe('Zoë 🦊')
  })

  it('names the bad parameter', () => {
    const refusal = (params: Parameters<typeof openIdentity>[0]) => {
      try {
        openIdentity(params)
      } catch (error) {
        expect(error).toBeInstanceOf(AuthError)
        expect((error as AuthError).code).toBe('identity_invalid')
        expect((error as AuthError).status).toBe(400)
        return (error as AuthError).message
      }
      throw new Error('expected a refusal')
    }
    expect(refusal({ kind: 'robot' })).toBe('Parameter "kind" must be "human" or "agent", got "robot"')
    expect(refusal({ id: 'x'.repeat(129) })).toBe('Parameter "id" must be at most 128 characters')
    expect(refusal({ name: 'bad\nname' })).toBe('Parameter "name" must contain only printable characters')
    expect(refusal({ name: '   ' })).toBe('Parameter "name" must not be empty')
    expect(refusal({ run: '\u0007' })).toMatch(/Parameter "run"/)
  })

  it('counts characters, not UTF-16 units', () => {
    expect(labelProblem('🦊'.repeat(128))).toBeUndefined()
    expect(labelProblem('🦊'.repeat(129))).toMatch(/at most 128/)
  })
})

describe('toActor', () => {
  it('keeps who, drops role and sessions, and omits absent fields', () => {
    const identity: Identity = { id: 'ada', name: 'Ada', kind: 'human', role: 'editor', sessions: ['s1'], exp: 1 }
    const actor = toActor(identity)
    expect(actor).toEqual({ id: 'ada', name: 'Ada', kind: 'human' })
    expect(Object.keys(actor)).toEqual(['id', 'name', 'kind'])
  })

  it('carries model, onBehalfOf and run', () => {
    const identity: Identity = { id: 'a7', name: 'Nav', kind: 'agent', role: 'editor', sessions: ['*'], model: 'm', onBehalfOf: 'ada' }
    expect(toActor(withRun(identity, 'r-1'))).toEqual({ id: 'a7', name: 'Nav', kind: 'agent', model: 'm', onBehalfOf: 'ada', run: 'r-1' })
    expect(withRun(identity, '')).toBe(identity)
    expect(withRun(identity, null)).toBe(identity)
  })
})
