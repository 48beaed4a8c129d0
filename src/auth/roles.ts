/**
 * What an identity may do: the role ladder of the SPEC (viewer < editor < admin) and the
 * token's session list. Pure functions; http/ and collab/ turn refusals into 403 / 4403.
 */
import { AuthError } from './errors.js'
import type { Identity, Role } from './identity.js'

/**
 * - `read`: state, timeline, streams (viewer and up)
 * - `write`: Yjs updates, appending events (editor and up)
 * - `create`: a session, by `POST /api/sessions` or by connecting first (editor and up)
 * - `admin`: fork, import, reads across sessions (admin only)
 */
export type Action = 'read' | 'write' | 'create' | 'admin'

const rank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 }

const neededRole: Record<Action, Role> = { read: 'viewer', write: 'editor', create: 'editor', admin: 'admin' }

/** The least role that may perform `action`. */
export const requiredRole = (action: Action): Role => neededRole[action]

/** Whether `identity`'s role is `role` or above. */
export const hasRole = (identity: Identity, role: Role): boolean => rank[identity.role] >= rank[role]

/** Whether the token's session list covers `sessionId` (`*` covers all). */
export function sessionAllowed(identity: Identity, sessionId: string): boolean {
  return identity.sessions.includes('*') || identity.sessions.includes(sessionId)
}

/** Whether the identity may touch every session (its list is `*`). */
export const allSessions = (identity: Identity): boolean => identity.sessions.includes('*')

/**
 * Whether `identity` may perform `action` on `sessionId`. Without a session id the
 * action concerns sessions in general (the global feed, a session with a generated
 * id), which only an identity for all sessions may do: a token limited to some
 * sessions must never see or make others.
 */
export function can(identity: Identity, action: Action, sessionId?: string): boolean {
  if (!hasRole(identity, requiredRole(action))) return false
  return sessionId === undefined ? allSessions(identity) : sessionAllowed(identity, sessionId)
}

/** Like `can`, but throws a 403 `AuthError` that names the missing role or session. */
export function assertCan(identity: Identity, action: Action, sessionId?: string): void {
  const role = requiredRole(action)
  if (!hasRole(identity, role)) {
    const allowed = role === 'admin' ? 'admin' : `${role} or above`
    throw new AuthError('forbidden', `Forbidden: ${describe(action)} needs role ${allowed}, and ${JSON.stringify(identity.id)} is ${identity.role}`)
  }
  if (sessionId === undefined) {
    if (!allSessions(identity)) {
      throw new AuthError('forbidden', `Forbidden: ${describe(action)} across sessions needs a token for all sessions ("*"), and this one is limited to ${list(identity.sessions)}`)
    }
    return
  }
  if (!sessionAllowed(identity, sessionId)) {
    throw new AuthError('forbidden', `Forbidden: this token is not valid for session ${JSON.stringify(sessionId)} (it allows ${list(identity.sessions)})`)
  }
}

function describe(action: Action): string {
  switch (action) {
    case 'read':
      return 'reading'
    case 'write':
      return 'editing'
    case 'create':
      return 'creating a session'
    case 'admin':
      return 'this (fork, import, cross-session reads)'
  }
}

const list = (sessions: string[]): string => sessions.map((s) => JSON.stringify(s)).join(', ')
