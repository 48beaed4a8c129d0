import { describe, expect, it } from 'vitest'
import { AuthError } from '../src/auth/errors.js'
import type { Identity, Role } from '../src/auth/identity.js'
import { assertCan, can, hasRole, requiredRole, sessionAllowed } from '../src/auth/roles.js'
import type { Action } from '../src/auth/roles.js'

const who = (role: Role, sessions: string[] = ['*']): Identity => ({ id: `${role}-1`, name: role, kind: 'human', role, sessions })

const actions: Action[] = ['read', 'write', 'create', 'admin']

// The SPEC's ladder: viewer reads; editor also edits, appends and creates; admin does everything.
const matrix: Record<Role, Record<Action, boolean>> = {
  viewer: { read: true, write: false, create: false, admin: false },
  editor: { read: true, write: true, create: true, admin: false },
  admin: { read: true, write: true, create: true, admin: true },
}

describe('can', () => {
  for (const role of Object.keys(matrix) as Role[]) {
    for (const action of actions) {
      it(`${role} ${matrix[role][action] ? 'may' : 'may not'} ${action}`, () => {
        expect(can(who(role), action, 's1')).toBe(matrix[role][action])
        expect(can(who(role), action)).toBe(matrix[role][action])
      })
    }
  }

  it('limits a token to its sessions', () => {
    const editor = who('editor', ['s1', 's2'])
    expect(can(editor, 'write', 's1')).toBe(true)
    expect(can(editor, 'write', 's2')).toBe(true)
    expect(can(editor, 'write', 's3')).toBe(false)
    expect(can(editor, 'read', 's3')).toBe(false)
    // Sessions in general (global feed, generated ids) need '*'.
    expect(can(editor, 'create')).toBe(false)
    expect(can(who('admin', ['s1']), 'admin')).toBe(false)
    expect(can(who('admin', ['s1']), 'admin', 's1')).toBe(true)
  })

  it('knows the least role per action', () => {
    expect(actions.map(requiredRole)).toEqual(['viewer', 'editor', 'editor', 'admin'])
    expect(hasRole(who('editor'), 'viewer')).toBe(true)
    expect(hasRole(who('editor'), 'admin')).toBe(false)
  })
})

describe('sessionAllowed', () => {
  it('treats * as every session', () => {
    expect(sessionAllowed(who('viewer'), 'anything')).toBe(true)
    expect(sessionAllowed(who('viewer', ['s1', '*']), 'other')).toBe(true)
  })

  it('matches ids exactly', () => {
    const viewer = who('viewer', ['s1'])
    expect(sessionAllowed(viewer, 's1')).toBe(true)
    expect(sessionAllowed(viewer, 'S1')).toBe(false)
    expect(sessionAllowed(viewer, 's10')).toBe(false)
    expect(sessionAllowed(who('viewer', []), 's1')).toBe(false)
  })
})

describe('assertCan', () => {
  const refusal = (fn: () => void): AuthError => {
    try {
      fn()
    } catch (error) {
      expect(error).toBeInstanceOf(AuthError)
      return error as AuthError
    }
    throw new Error('expected a refusal')
  }

  it('passes what can allows', () => {
    expect(() => assertCan(who('editor', ['s1']), 'write', 's1')).not.toThrow()
    expect(() => assertCan(who('admin'), 'admin')).not.toThrow()
  })

  it('names the missing role', () => {
    const error = refusal(() => assertCan(who('viewer'), 'write', 's1'))
    expect(error.code).toBe('forbidden')
    expect(error.status).toBe(403)
    expect(error.message).toBe('Forbidden: editing needs role editor or above, and "viewer-1" is viewer')
    expect(refusal(() => assertCan(who('editor'), 'admin', 's1')).message).toMatch(/needs role admin, and "editor-1" is editor/)
    expect(refusal(() => assertCan(who('viewer'), 'create', 's1')).message).toMatch(/creating a session needs role editor or above/)
  })

  it('names the missing session', () => {
    const error = refusal(() => assertCan(who('editor', ['s1', 's2']), 'read', 's3'))
    expect(error.status).toBe(403)
    expect(error.message).toBe('Forbidden: this token is not valid for session "s3" (it allows "s1", "s2")')
    expect(refusal(() => assertCan(who('admin', ['s1']), 'admin')).message).toMatch(/across sessions needs a token for all sessions/)
  })
})
